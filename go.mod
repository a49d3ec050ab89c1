module github.com/msgtrans/msgtrans

go 1.26.0

require (
	github.com/gobwas/ws v1.5.0
	github.com/mattn/go-isatty v0.0.20
	github.com/quic-go/quic-go v0.65.0
	github.com/rs/zerolog v1.35.1
	go.etcd.io/bbolt v1.5.0
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/net v0.56.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
