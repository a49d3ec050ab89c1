#!/usr/bin/env bash
# Regenerates plugin.pb.go and plugin_grpc.pb.go from plugin.proto with the
# generator versions pinned as tools in go.mod (go get -tool), and protoc
# from Debian's protobuf-compiler (apt-get install protobuf-compiler).
set -euo pipefail
cd "$(dirname "$0")"
protoc \
	--plugin=protoc-gen-go="$(go tool -n protoc-gen-go)" \
	--plugin=protoc-gen-go-grpc="$(go tool -n protoc-gen-go-grpc)" \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	plugin.proto
