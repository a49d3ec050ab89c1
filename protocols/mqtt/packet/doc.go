// Package packet is the wire layer of MQTT 3.1.1 (protocol level 4) and
// MQTT 5.0 (level 5): the fifteen control packets, their 5.0 properties and
// reason codes, a Reader that decodes them from a byte stream, and
// encoders that append them to a byte slice. It imports only the standard
// library.
//
// # Reading
//
// A Reader reads packets with one reusable buffer and decodes them in
// place: a PUBLISH's topic and payload are slices of that buffer, valid
// until the next ReadPacket, and reading a PUBLISH allocates nothing in
// steady state. The Reader checks what the specifications require of a
// receiver for each packet on its own, and refuses a packet with an
// *Error whose Code is the reason code to answer with:
//
//   - the fixed header: reserved packet types and flag bits, a remaining
//     length of at most four bytes and no more than it needs, and the
//     maximum packet size, which is checked before the body is read or any
//     memory is set aside for it (PacketTooLarge);
//   - strings: well-formed UTF-8 without U+0000 (and so without encoded
//     surrogates);
//   - CONNECT: the protocol name and level (UnsupportedProtocolVersion, for
//     CONNACK 0x84 at 5.0 or return code 0x01 at 3.1.1), the reserved
//     flag, the will flags, a password without user name at 3.1.1;
//   - PUBLISH: QoS 3, DUP at QoS 0, wildcards in the topic name
//     (TopicNameInvalid), an empty topic name without a topic alias, packet
//     identifier 0;
//   - SUBSCRIBE and UNSUBSCRIBE: at least one filter, each well formed
//     ('#' alone in the last level, '+' alone in its level; a shared
//     subscription $share/{name}/{filter} with a name without '+' and '#')
//     (TopicFilterInvalid), the subscription options' reserved bits, QoS 3,
//     retain handling 3, no local on a shared subscription;
//   - 5.0 properties: only those of the packet, each single-valued one at
//     most once, with the values the specification allows (Receive Maximum,
//     Maximum Packet Size, Topic Alias and Subscription Identifier not 0,
//     the 0-or-1 bytes 0 or 1, no Authentication Data without a method);
//   - reason codes: only those of the packet.
//
// The level packets are read at is the CONNECT's; a client tells its
// Reader the level with SetVersion.
//
// # Writing
//
// Every packet type has an Append method that encodes the whole packet for
// a level onto a byte slice, growing it at most once and not at all when it
// has room, so that a writer can gather many packets into one write. Size
// tells the encoded size first, for the peer's Maximum Packet Size. Append
// refuses only what cannot be encoded (see Packet); the content is the
// caller's.
// Properties are written in one canonical order; a packet that was read
// re-encodes to the bytes it came in, except that its properties are put
// in that order and the optional reason code and property length of the
// acknowledgements, DISCONNECT and AUTH are left out when they hold
// nothing.
//
// # What the session layer must still do
//
// This package knows single packets, not the conversation. The code that
// drives a connection must still:
//
//   - refuse a second CONNECT, and packets sent the wrong way (CONNACK,
//     SUBACK, PINGRESP... from a client; a Subscription Identifier in a
//     client's PUBLISH);
//   - apply the 3.1.1 rule on an empty client identifier (return code 0x02
//     unless CleanStart), assign identifiers, and check the Authentication
//     Method of AUTH against the CONNECT's;
//   - enforce keep alive (one and a half times the interval, or the Server
//     Keep Alive it sent), and answer PINGREQ;
//   - keep packet identifiers: in-flight windows bounded by Receive
//     Maximum both ways (ReceiveMaximumExceeded), identifiers in use
//     (PacketIDInUse, PacketIDNotFound), the QoS 2 state machine, resending
//     with DUP on a resumed session;
//   - map topic aliases both ways and check them against Topic Alias
//     Maximum (TopicAliasInvalid); an empty topic name resolves through
//     the alias;
//   - honour the client's Maximum Packet Size (drop or trim what would
//     exceed it), Maximum QoS, Retain Available, the subscription options
//     on delivery, message and session expiry, will delay, and the payload
//     format indicator if it chooses to check payloads (PayloadFormatInvalid);
//   - police what the specifications leave to a server: topics beginning
//     with '$', the identifiers, names and sizes it accepts;
//   - send a DISCONNECT (5.0) with the Code of an *Error, or a CONNACK if
//     the error is in the CONNECT (in 3.1.1's form, with
//     ReasonCode.V311Connack, when the Error's Version is below 5), and
//     close the connection.
package packet
