/// A JSON decoding error as an operator can act on it (a configuration or scenario file): which
/// key, what was wrong.
public func explainDecodingError(_ error: DecodingError) -> String {
    func at(_ path: [any CodingKey]) -> String { path.isEmpty ? "the file" : "key " + path.map(\.stringValue).joined(separator: ".") }
    switch error {
    case .typeMismatch(_, let c), .valueNotFound(_, let c): return "\(at(c.codingPath)) has the wrong type (\(c.debugDescription))"
    case .keyNotFound(let key, let c): return "key \((c.codingPath + [key]).map(\.stringValue).joined(separator: ".")) is missing"
    case .dataCorrupted(let c): return "\(at(c.codingPath)) is not valid JSON (\(c.debugDescription))"
    @unknown default: return "\(error)"
    }
}
