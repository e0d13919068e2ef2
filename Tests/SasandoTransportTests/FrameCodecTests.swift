import NIOCore
import NIOEmbedded
import SasandoTransport
import Testing

@Suite("ISO frame decoder and encoder (spec §1 framing)")
struct FrameCodecTests {
    private func makeDecoderChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ISOFrameDecoder()))
        return channel
    }

    private func body(_ count: Int, seed: UInt8 = 0x30) -> [UInt8] {
        (0..<count).map { seed &+ UInt8($0 % 10) }
    }

    private func header(_ length: Int) -> [UInt8] {
        [UInt8(length >> 8), UInt8(length & 0xFF)]
    }

    private func readAll(_ channel: EmbeddedChannel) throws -> [[UInt8]] {
        var frames: [[UInt8]] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) {
            frames.append(Array(buffer.readableBytesView))
        }
        return frames
    }

    @Test func frameDeliveredByteByByte() throws {
        let channel = try makeDecoderChannel()
        let payload = body(25)
        let wire = header(payload.count) + payload
        for (index, byte) in wire.enumerated() {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
            if index < wire.count - 1 {
                #expect(try channel.readInbound(as: ByteBuffer.self) == nil, "frame emitted early at byte \(index)")
            }
        }
        #expect(try readAll(channel) == [payload])
        #expect(try channel.finish().isClean)
    }

    @Test func severalFramesInOneBuffer() throws {
        let channel = try makeDecoderChannel()
        let frames = [body(20, seed: 0x41), body(33, seed: 0x42), body(4096, seed: 0x43)]
        var buffer = ByteBuffer()
        for frame in frames { buffer.writeBytes(header(frame.count) + frame) }
        try channel.writeInbound(buffer)
        #expect(try readAll(channel) == frames)
        #expect(try channel.finish().isClean)
    }

    @Test func framesSplitAcrossBufferBoundaries() throws {
        let channel = try makeDecoderChannel()
        let frames = [body(21, seed: 0x41), body(40, seed: 0x42)]
        let wire = frames.flatMap { header($0.count) + $0 }
        // Split in the middle of the second header and of the first body.
        let cuts = [1, 10, 24, 50, wire.count]
        var start = 0
        for cut in cuts {
            try channel.writeInbound(ByteBuffer(bytes: wire[start..<cut]))
            start = cut
        }
        #expect(try readAll(channel) == frames)
        #expect(try channel.finish().isClean)
    }

    @Test(arguments: [19, 4097, 0, 5, 5000, 65535])
    func lengthOutOfBoundsThrows(announced: Int) throws {
        let channel = try makeDecoderChannel()
        // Only the header: the length must be refused before the body is buffered.
        let error = #expect(throws: FrameLengthError.self) {
            try channel.writeInbound(ByteBuffer(bytes: header(announced)))
        }
        #expect(error?.announcedBytes == announced)
        _ = try? channel.finish()
    }

    @Test(arguments: [20, 4096])
    func lengthAtBoundsAccepted(announced: Int) throws {
        let channel = try makeDecoderChannel()
        let payload = body(announced)
        try channel.writeInbound(ByteBuffer(bytes: header(announced) + payload))
        #expect(try readAll(channel) == [payload])
        #expect(try channel.finish().isClean)
    }

    @Test func defaultBoundsAreSpecBounds() {
        let decoder = ISOFrameDecoder()
        #expect(decoder.bodyBytesMin == 20)
        #expect(decoder.bodyBytesMax == 4096)
    }

    @Test func encoderPrependsBigEndianLength() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(ISOFrameEncoder()))
        for count in [20, 300, 4096] {
            let payload = body(count)
            try channel.writeOutbound(ByteBuffer(bytes: payload))
            let out = try #require(try channel.readOutbound(as: ByteBuffer.self))
            let bytes = Array(out.readableBytesView)
            #expect(bytes.count == count + 2)
            #expect(Array(bytes.prefix(2)) == header(count))
            #expect(Array(bytes.dropFirst(2)) == payload)
        }
        #expect(try channel.finish().isClean)
    }

    @Test func framedHelperMatchesEncoder() throws {
        let payload = body(300)
        let framed = ByteBuffer.framed(payload)
        #expect(Array(framed.readableBytesView) == [0x01, 0x2C] + payload)
    }

    @Test func encoderOutputDecodesBack() throws {
        let encoder = EmbeddedChannel()
        try encoder.pipeline.syncOperations.addHandler(MessageToByteHandler(ISOFrameEncoder()))
        let decoder = try makeDecoderChannel()
        let frames = [body(20), body(77), body(1000)]
        for frame in frames {
            try encoder.writeOutbound(ByteBuffer(bytes: frame))
            let out = try #require(try encoder.readOutbound(as: ByteBuffer.self))
            try decoder.writeInbound(out)
        }
        #expect(try readAll(decoder) == frames)
    }
}
