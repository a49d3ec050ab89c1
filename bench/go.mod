module github.com/msgtrans/msgtrans/bench

go 1.26.0

replace github.com/msgtrans/msgtrans => ../

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0
	github.com/gobwas/ws v1.5.0
	github.com/mochi-mqtt/server/v2 v2.7.9
	github.com/msgtrans/msgtrans v0.0.0
	github.com/nats-io/nats.go v1.55.0
	github.com/quic-go/quic-go v0.65.0
	golang.org/x/crypto v0.57.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/rs/xid v1.4.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
