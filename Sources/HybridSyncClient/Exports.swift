// The protocol types the client API shows (Publication, JSONValue, Ban, StreamPosition,
// CloseCode, ReplyError, ChannelName, the transport seam): `import HybridSyncClient` is enough.
@_exported public import HybridSyncProtocol
