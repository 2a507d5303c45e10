package proxy

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"lethe/private"
)

//go:embed pages
var pageFiles embed.FS

// pages are the proxy's own pages: html/template, one file each, in pages/.
type pages struct {
	t     *template.Template
	style []byte
}

func newPages() *pages {
	t := template.Must(template.New("").Funcs(template.FuncMap{
		"bytes": humanBytes,
		"took":  took,
	}).ParseFS(pageFiles, "pages/*.html"))
	style, err := pageFiles.ReadFile("pages/style.css")
	if err != nil {
		panic("proxy: embedded stylesheet: " + err.Error())
	}
	return &pages{t: t, style: style}
}

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string // the navigation entry to mark as current
	Refresh int    // seconds after which the page reloads itself; 0 for never
	Token   string // the CSRF token for the page's forms
	Data    any
}

// render writes one of the proxy's pages. The page is rendered whole before anything is
// sent, so that a template error is a clean 500, never half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	if v.Token == "" {
		v.Token = s.guard.csrfToken(s.guard.browser(w, r))
	}
	var buf bytes.Buffer
	if err := s.pages.t.ExecuteTemplate(&buf, name, v); err != nil {
		s.log.Error("proxy: page", "page", name, "err", private.Error{Err: err})
		http.Error(w, "proxy: page failed to render", http.StatusInternalServerError)
		return
	}
	ownHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// errorData is what the error page shows.
type errorData struct {
	Heading, Message, Detail string
	Retry                    string // a link to try again, if it may help
}

// errorPage answers with an explanation: what went wrong in words, and the error itself.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, message, detail string) {
	s.render(w, r, status, "error.html", view{Title: heading, Data: errorData{Heading: heading, Message: message, Detail: detail}})
}

// errorPageHeader is errorPage with headers of the caller's (a 416's Content-Range).
func (s *Server) errorPageHeader(w http.ResponseWriter, r *http.Request, h http.Header, status int, heading, message, detail string) {
	for _, k := range []string{"Content-Range", "Accept-Ranges"} {
		if v := h.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	s.errorPage(w, r, status, heading, message, detail)
}

func (s *Server) serveStyle(w http.ResponseWriter, r *http.Request) {
	ownHeaders(w.Header())
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Header().Set("Content-Length", fmt.Sprint(len(s.pages.style)))
	if r.Method != http.MethodHead {
		w.Write(s.pages.style)
	}
}

// humanBytes writes a byte count the way people read it: "1.5 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// took is how long something lasted, rounded for reading.
func took(from, to time.Time) string {
	if to.IsZero() || from.IsZero() {
		return ""
	}
	return roundDuration(to.Sub(from))
}

// roundDuration writes a duration as people say it: "350ms", "4.2s", "12 min", "3 h 5 min",
// "6 days".
func roundDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
