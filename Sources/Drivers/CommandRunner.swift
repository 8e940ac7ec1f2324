import Foundation

/// How a command run by `CommandRunner` ended.
struct CommandResult: Sendable, Equatable {
    enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
        /// Still running at the deadline: it and its process group were killed.
        case timedOut
    }

    var ending: Ending
    var standardOutput: String
    var standardError: String
}

/// Runs a storage tool (LVM's `vgs`) with a deadline and never hangs: the child gets its own
/// process group, which is killed with SIGKILL at the deadline (so a shell script's own children go
/// too), output is bounded, and the child's exit is waited for without blocking forever.
/// `Foundation.Process` is not used because it offers no deadline and resolves tools through the
/// process-wide `PATH`, which tests running in parallel must not touch.
enum CommandRunner {
    /// Output kept per stream; the rest is read and dropped so the child never blocks on a full pipe.
    static let outputLimit = 256 * 1024

    /// The first executable `name` in `directories`, or nil.
    static func locate(_ name: String, in directories: [String]) -> String? {
        for directory in directories where !directory.isEmpty {
            let candidate = (directory.hasSuffix("/") ? directory : directory + "/") + name
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    /// Runs `executable` (an absolute path) with `arguments` and exactly `environment`.
    static func run(
        _ executable: String, arguments: [String], environment: [String],
        timeout: Double
    ) throws(CommandFailure) -> CommandResult {
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard makePipe(&outPipe) == 0 else { throw CommandFailure(errno: errno, during: "pipe") }
        guard makePipe(&errPipe) == 0 else {
            let code = errno
            close(outPipe[0])
            close(outPipe[1])
            throw CommandFailure(errno: code, during: "pipe")
        }
        let pid: pid_t
        do {
            pid = try spawn(
                executable, arguments: arguments, environment: environment,
                stdout: outPipe[1], stderr: errPipe[1])
        } catch {
            for fd in outPipe + errPipe { close(fd) }
            throw error
        }
        close(outPipe[1])
        close(errPipe[1])
        defer {
            close(outPipe[0])
            close(errPipe[0])
        }

        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(timeout, 0) * 1e9)
        var output = BoundedBuffer()
        var errors = BoundedBuffer()
        var open: [(fd: Int32, isError: Bool)] = [(outPipe[0], false), (errPipe[0], true)]
        var status: Int32 = 0
        var exited = false
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= deadline { break }
            if open.isEmpty {
                // Both streams closed: wait for the exit, still bounded by the deadline.
                // Look without reaping, so the group id cannot be reused before the group is killed.
                var info = siginfo_t()
                if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0, info.si_signo == SIGCHLD {
                    kill(-pid, SIGKILL)  // the tool is gone; whatever it left running in its group goes too
                    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                    exited = true
                    break
                }
                usleep(5_000)
                continue
            }
            var fds = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let waitMillis = Int32(min((deadline - now) / 1_000_000 + 1, 1_000))
            let ready = poll(&fds, nfds_t(fds.count), waitMillis)
            if ready < 0 && errno != EINTR { break }
            guard ready > 0 else { continue }
            var stillOpen: [(fd: Int32, isError: Bool)] = []
            for (index, entry) in open.enumerated() {
                guard fds[index].revents != 0 else {
                    stillOpen.append(entry)
                    continue
                }
                if entry.isError ? errors.read(from: entry.fd) : output.read(from: entry.fd) {
                    stillOpen.append(entry)
                }
            }
            open = stillOpen
        }
        if !exited {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return CommandResult(ending: .timedOut, standardOutput: output.text, standardError: errors.text)
        }
        let ending: CommandResult.Ending =
            (status & 0x7F) == 0
            ? .exited((status >> 8) & 0xFF) : .signaled(status & 0x7F)
        return CommandResult(ending: ending, standardOutput: output.text, standardError: errors.text)
    }

    private static func spawn(
        _ executable: String, arguments: [String], environment: [String],
        stdout: Int32, stderr: Int32
    ) throws(CommandFailure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        if let closeFrom = closeFromAction {
            _ = closeFrom(&actions, 3)  // no descriptor another thread opened without O_CLOEXEC leaks
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        var code = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        // ETXTBSY: the file is open for writing somewhere (a package upgrade replacing the tool, or
        // a descriptor held for an instant by another thread's child before its exec). It passes.
        var retries = 0
        while code == ETXTBSY && retries < 10 {
            retries += 1
            usleep(20_000)
            code = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        }
        guard code == 0 else { throw CommandFailure(errno: code, during: "posix_spawn \(executable)") }
        return pid
    }

    /// A pipe whose ends close on exec, atomically where glibc's `pipe2` is there (Swift's Glibc
    /// module does not declare it), so another thread's child cannot inherit them.
    private static func makePipe(_ fds: inout [Int32]) -> Int32 {
        if let pipe2 = pipe2Call {
            return fds.withUnsafeMutableBufferPointer { pipe2($0.baseAddress!, O_CLOEXEC) }
        }
        guard pipe(&fds) == 0 else { return -1 }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return 0
    }

    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private static let pipe2Call: Pipe2? = {
        guard let symbol = dlsym(nil, "pipe2") else { return nil }
        return unsafeBitCast(symbol, to: Pipe2.self)
    }()

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does
    /// not declare; looked up at run time and skipped where absent.
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let closeFromAction: CloseFrom? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: CloseFrom.self)
    }()
}

/// The tool could not be started at all.
struct CommandFailure: Error, Sendable, CustomStringConvertible {
    var errno: Int32
    var during: String
    var description: String { "\(during): \(String(cString: strerror(errno)))" }
}

/// Output collected from a pipe up to `CommandRunner.outputLimit` bytes.
private struct BoundedBuffer {
    var bytes: [UInt8] = []

    /// Reads what is available; false at end of stream or on error.
    mutating func read(from fd: Int32) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if count < 0 { return errno == EINTR || errno == EAGAIN }
        if count == 0 { return false }
        let room = CommandRunner.outputLimit - bytes.count
        if room > 0 { bytes += chunk.prefix(min(room, count)) }
        return true
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }
}
