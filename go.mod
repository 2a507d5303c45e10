module lethe

go 1.26.0

require github.com/cloudflare/circl v1.6.5

require (
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
