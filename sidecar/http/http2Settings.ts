/**
 * HTTP/2 flow-control windows, upstream and downstream. They bound how much one stream (and one
 * connection) can have in flight before the receiver reads it, which is also the most Tandem
 * buffers for a stream whose reader is slow: Node stops sending WINDOW_UPDATE for a paused stream.
 * Node's default of 64 KiB for the whole connection throttles every stream sharing it, hence the
 * larger connection window.
 */
export const STREAM_WINDOW_BYTES = 1024 * 1024;
export const CONNECTION_WINDOW_BYTES = 8 * 1024 * 1024;

/** HTTP/2 frame flag on HEADERS/DATA: nothing follows on this stream. */
export const END_STREAM_FLAG = 0x1;
