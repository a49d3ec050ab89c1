package pluginpb

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Handshake is shared by the broker and every plugin binary. The cookie
// only keeps a plugin binary from being run by hand by mistake; it is not
// a security measure (the optional SHA-256 pin of the binary is).
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "MSGTRANS_PLUGIN",
	MagicCookieValue: "protocol-plugin-0d8f3a61",
}

// Name is the name under which the plugin is dispensed.
const Name = "protocol"

// GRPCPlugin connects the contract to go-plugin. In the plugin process,
// NewServer builds the Plugin service (it gets the go-plugin broker, to dial
// the broker's Host service); in the broker, Dispense returns a *Client.
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	NewServer func(*goplugin.GRPCBroker) PluginServer
}

// Client is what the broker holds for a running plugin.
type Client struct {
	PluginClient
	// Broker serves the Host service to the plugin.
	Broker *goplugin.GRPCBroker
	// Done is cancelled when the plugin process exits.
	Done context.Context
}

// GRPCServer implements goplugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCServer(b *goplugin.GRPCBroker, s *grpc.Server) error {
	RegisterPluginServer(s, p.NewServer(b))
	return nil
}

// GRPCClient implements goplugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCClient(ctx context.Context, b *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{PluginClient: NewPluginClient(c), Broker: b, Done: ctx}, nil
}
