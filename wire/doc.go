// Package wire implements msgtrans's native protocol, version 1: a binary,
// big-endian, length-prefixed framing carried unchanged over a TCP stream, a
// QUIC stream and WebSocket binary messages (one frame per message).
//
// Every frame is a 6-byte header (u32 body length, u8 type, u8 flags)
// followed by the body. The byte layouts, the handshake, the error codes and
// hex test vectors are in docs/protocol.md; this package is the reference
// implementation and its tests keep the two in step.
//
// The package has three parts:
//
//   - Decode parses one frame in place: the Frame's byte slices alias the input,
//     nothing is copied and nothing is allocated except the strings of the
//     handshake frames. Every declared length is checked against the bytes
//     that are really there before it is used, and a declared body length
//     above the caller's limit is refused before anything else is looked at.
//   - Reader reads frames from a byte stream with one buffer, decoding in place
//     and growing the buffer only for a frame that is within the limit.
//   - The Append functions encode one whole frame onto a caller's buffer; they
//     do not allocate when the buffer has room.
//
// Fields encoded as s16 (a u16 length and that many bytes) hold at most
// MaxString bytes. Topics, reply topics, filters, queue names and the HELLO
// strings are the caller's to validate: the Append functions panic rather than
// write a corrupt frame if one is longer. ACK and ERR texts are diagnostics and
// are shortened to MaxString bytes instead.
package wire
