package proxy

import (
	"context"
	"errors"
	"net/http"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
	"lethe/private"
	"lethe/proxy/filter"
)

// failure is an error explained for the person at the browser.
type failure struct {
	status           int
	heading, message string
	retry            bool // trying again later may help
	unknown          bool // none of the outcomes the proxy knows: worth a log line
}

// describe explains why a fetch or an insert failed, in words, with the HTTP status that
// says the same to programs.
func describe(err error) failure {
	var se *fetch.SegmentError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, errCancelled), errors.Is(err, context.Canceled):
		return failure{status: http.StatusServiceUnavailable, heading: "Cancelled",
			message: "It was cancelled before it finished.", retry: true}
	case errors.Is(err, fetch.ErrNotFound):
		return failure{status: http.StatusNotFound, heading: "Not found",
			message: "The site has no file at this path."}
	case errors.As(err, &se):
		return failure{status: http.StatusNotFound, heading: "Not found in the network",
			message: "Too few of the file's blocks could be found to rebuild it. Blocks come back as the nodes that hold them return; try again later.", retry: true}
	case errors.Is(err, fetch.ErrEditionNotFound):
		return failure{status: http.StatusNotFound, heading: "Not found in the network",
			message: "No edition of this site could be found. It may be new and still on its way, or gone.", retry: true}
	case errors.Is(err, fetch.ErrBlockNotFound):
		return failure{status: http.StatusNotFound, heading: "Not found in the network",
			message: "The network did not find this key. Nobody may have inserted it, or the nodes that hold it are away; try again later.", retry: true}
	case errors.Is(err, crypto.ErrVerify):
		return failure{status: http.StatusBadGateway, heading: "Damaged copies only",
			message: "Every copy the network returned failed verification. Other routes may hold a good copy; try again later.", retry: true}
	case errors.Is(err, fetch.ErrTooLarge), errors.As(err, &tooBig):
		return failure{status: http.StatusRequestEntityTooLarge, heading: "Too big",
			message: "The file is larger than this proxy serves or inserts."}
	case errors.Is(err, fetch.ErrEncrypted):
		return failure{status: http.StatusForbidden, heading: "Encrypted",
			message: "This file is encrypted to particular people (age recipients). Fetch it with `lethe fetch` and the identity it was encrypted to."}
	case errors.Is(err, fetch.ErrCorrupt), errors.Is(err, fetch.ErrTooManyHops):
		return failure{status: http.StatusBadGateway, heading: "Broken content",
			message: "The blocks verified, but what they make does not match its description: the file was inserted wrongly, or broken on purpose."}
	case errors.Is(err, filter.ErrNotImage):
		return failure{status: http.StatusBadGateway, heading: "Not an image",
			message: "This file claims to be an image but is not one; the proxy does not pass it on."}
	case errors.Is(err, filter.ErrTooLarge):
		return failure{status: http.StatusBadGateway, heading: "Page too large to filter",
			message: "The page holds a single piece of markup too large to check, so the proxy stopped there."}
	case errors.Is(err, crypto.ErrCollision):
		return failure{status: http.StatusConflict, heading: "Key already taken",
			message: "Other content is already inserted under this key; a signed key holds one document for good."}
	case errors.Is(err, insert.ErrPath):
		return failure{status: http.StatusBadRequest, heading: "Insert URI has a path",
			message: "A single file is inserted under a key without a path; insert a site to have paths."}
	case errors.Is(err, errUpload):
		return failure{status: http.StatusBadRequest, heading: "Cannot insert this",
			message: "The upload could not be read as asked."}
	case errors.Is(err, context.DeadlineExceeded):
		return failure{status: http.StatusGatewayTimeout, heading: "Timed out",
			message: "The network took too long to answer. Try again.", retry: true}
	}
	return failure{status: http.StatusBadGateway, heading: "Failed",
		message: "It failed for a reason the proxy cannot explain better than the error below.", retry: true, unknown: true}
}

// loggedSentinels are the errors whose texts the proxy's log may carry, those describe
// knows: each names a kind of failure and nothing it failed on (private.Handler).
var loggedSentinels = []error{
	errCancelled, fetch.ErrNotFound, fetch.ErrEditionNotFound, fetch.ErrBlockNotFound,
	crypto.ErrVerify, fetch.ErrTooLarge, fetch.ErrEncrypted, fetch.ErrCorrupt,
	fetch.ErrTooManyHops, filter.ErrNotImage, filter.ErrTooLarge, crypto.ErrCollision,
	insert.ErrPath, errUpload,
}

// explain is the one line the transfers page shows for a failure.
func explain(err error) string {
	f := describe(err)
	return f.heading + ": " + err.Error()
}

// fetchError answers with the page that explains why content could not be served.
func (s *Server) fetchError(w http.ResponseWriter, r *http.Request, uri crypto.RequestURI, err error) {
	if r.Context().Err() != nil {
		return // nobody is listening
	}
	if s.ctx.Err() != nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, "Shutting down", "The proxy is closing.", "")
		return
	}
	f := describe(err)
	if f.unknown {
		s.log.Warn("proxy: fetch failed", "uri", uri, "err", private.Error{Err: err})
	}
	d := errorData{Heading: f.heading, Message: f.message, Detail: err.Error()}
	if f.retry {
		d.Retry = filter.Path(uri)
	}
	s.render(w, r, f.status, "error.html", view{Title: f.heading, Data: d})
}
