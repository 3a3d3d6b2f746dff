module github.com/typedsession/session/codec/goccyjson

go 1.25

replace github.com/typedsession/session => ../../

require (
	github.com/goccy/go-json v0.12.0
	github.com/typedsession/session v0.0.0-00010101000000-000000000000
)

require (
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)
