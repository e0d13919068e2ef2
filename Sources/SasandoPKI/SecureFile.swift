import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Files that hold keys: written so that no other user can ever read them, not even for an instant,
/// and refused when they are found readable by others.
public enum SecureFile {
    /// Writes via a temporary file in the same directory created with `mode`, then renames it over
    /// `path`: readers never see a partial file and secret files are never more permissive than
    /// `mode` (writing first and tightening the mode afterwards left a CA key readable to other
    /// local users while it was being written; a security review read it in 6 of 8 tries).
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t) throws {
        func failure(_ what: String) -> PKIError {
            PKIError.writeFailed(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
        }
        let temporaryPath = path + ".tmp-\(UUID().uuidString)"
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure("cannot create temporary file") }
        var succeeded = false
        defer { if !succeeded { unlink(temporaryPath) } }

        // The umask may have removed bits (e.g. 0644 -> 0600 under umask 077); set the mode exactly.
        guard fchmod(fd, mode) == 0 else {
            let error = failure("cannot set file mode")
            close(fd)
            throw error
        }
        guard writeAll(bytes, to: fd) else {
            let error = failure("write failed")
            close(fd)
            throw error
        }
        guard fsync(fd) == 0 else {
            let error = failure("fsync failed")
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw failure("close failed") }
        guard rename(temporaryPath, path) == 0 else { throw failure("cannot rename into place") }
        succeeded = true
        // The rename is durable once the folder is: a CA key lost to a power cut after its
        // certificates went out would orphan every terminal.
        let folder = open((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent,
                          O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folder >= 0 { _ = fsync(folder); close(folder) }
    }

    /// Creates `path` (and missing parents) as a directory only its owner can enter (0700); an
    /// existing one is left as it is.
    public static func createPrivateDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw PKIError.writeFailed(path: path, reason: "cannot create the directory")
        }
    }

    /// Throws when the private key at `path` can be read by its group or by others: a key every
    /// local user can copy authenticates nobody. The message says how to mend it.
    public static func requireOwnerOnly(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { throw PKIError.missingFile(path: path) }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw PKIError.invalidFile(path: path, reason: "a private key readable by group or others (mode \(String(mode, radix: 8))); "
                                       + "run `chmod 600 \(path)` and consider the key disclosed if others could log in here")
        }
    }
}

/// Writes every byte to `fd`, retrying short writes and EINTR. At file scope so `write` means the C call.
private func writeAll(_ bytes: [UInt8], to fd: Int32) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += written
    }
    return true
}
