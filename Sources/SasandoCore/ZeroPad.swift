/// Fixed-width decimal text (`n` fields, periods, dates) without `String(format:)`, which goes
/// through Foundation's formatter and showed up in the switch's profile on the hot path.
@inlinable
public func zeroPadded(_ value: some BinaryInteger, width: Int) -> String {
    let digits = String(value.magnitude)
    let sign = value < 0 ? "-" : ""
    let padding = max(0, width - digits.count - sign.count)
    return sign + String(repeating: "0", count: padding) + digits
}
