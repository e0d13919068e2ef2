/// Fixed-width decimal text (`n` fields, periods, dates) without `String(format:)`, which goes
/// through Foundation's formatter and showed up in the switch's profile on the hot path.
@inlinable
public func zeroPadded(_ value: some BinaryInteger, width: Int) -> String {
    // Digits written right to left into one buffer: one allocation, no intermediate Strings.
    var magnitude = UInt64(truncatingIfNeeded: value.magnitude)
    let negative = value < 0
    var digits: [UInt8] = []
    digits.reserveCapacity(max(width, 21))
    repeat {
        digits.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
        magnitude /= 10
    } while magnitude > 0
    while digits.count + (negative ? 1 : 0) < width { digits.append(UInt8(ascii: "0")) }
    if negative { digits.append(UInt8(ascii: "-")) }
    digits.reverse()
    return String(decoding: digits, as: UTF8.self)
}
