import NIOCore
import SasandoCore

/// A frame whose announced length is outside spec §1's bounds. Such a peer cannot be trusted to be
/// in sync any more, so the connection is closed (never answered).
public struct FrameLengthError: Error, Equatable, CustomStringConvertible {
    public let announcedBytes: Int
    public var description: String {
        "frame announces \(announcedBytes) body bytes; allowed \(Limits.messageBytesMin)...\(Limits.messageBytesMax)"
    }
}

/// Splits the stream into message bodies: 2-byte unsigned big-endian length (not counting itself),
/// then the body. The length is checked as soon as the header arrives, so an oversized frame is
/// refused before its body is buffered. The header is kept apart from the ISO 8583 codec (jPOS style).
public struct ISOFrameDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = ByteBuffer

    public let bodyBytesMin: Int
    public let bodyBytesMax: Int

    public init(bodyBytesMin: Int = Limits.messageBytesMin, bodyBytesMax: Int = Limits.messageBytesMax) {
        precondition(bodyBytesMin >= 0 && bodyBytesMin <= bodyBytesMax && bodyBytesMax <= Int(UInt16.max))
        self.bodyBytesMin = bodyBytesMin
        self.bodyBytesMax = bodyBytesMax
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        // Peek first: consume nothing until the whole frame is there.
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self).map(Int.init) else {
            return .needMoreData
        }
        guard length >= bodyBytesMin, length <= bodyBytesMax else {
            throw FrameLengthError(announcedBytes: length)
        }
        guard buffer.readableBytes >= Limits.frameHeaderBytes + length else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: Limits.frameHeaderBytes)
        let body = buffer.readSlice(length: length)!  // length checked just above
        context.fireChannelRead(Self.wrapInboundOut(body))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial frame at EOF is dropped: there is nobody left to answer.
        try decode(context: context, buffer: &buffer)
    }
}

/// Prepends the 2-byte length header to every outbound body.
public struct ISOFrameEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = ByteBuffer
    public init() {}
    public func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        // Our own responses are built by our codec; an oversize one is a programmer error.
        precondition(data.readableBytes <= Int(UInt16.max), "response body larger than a frame can carry")
        out.writeInteger(UInt16(data.readableBytes))
        out.writeImmutableBuffer(data)
    }
}

extension ByteBuffer {
    /// One framed message (header + body), for clients that write raw bytes.
    public static func framed(_ body: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(body.count + Limits.frameHeaderBytes)
        buffer.writeInteger(UInt16(truncatingIfNeeded: body.count))
        buffer.writeBytes(body)
        return buffer
    }
}
