module lethe

go 1.26.0

require (
	github.com/cloudflare/circl v1.6.5
	golang.org/x/net v0.62.0
)

require golang.org/x/sys v0.49.0 // indirect
