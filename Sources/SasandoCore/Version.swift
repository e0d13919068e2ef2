/// The release, printed by `sasando --version` and logged when the switch starts, so an operator
/// can tell which build a machine runs.
public enum SasandoVersion {
    public static let release = "0.13.0"
}
