using System.Runtime.InteropServices;
using System.Text;

namespace Cleft.Autograd.IO;

/// <summary>
/// Crash-safe file replacement: the bytes go to a temporary sibling (<see cref="TempPrefix"/> + name + a GUID),
/// are flushed to the disk (fsync), and the temporary is renamed over the target; then the directory entry is
/// synced too. A process killed (or a machine losing power) at any moment leaves either the old file or the
/// complete new one under the target name, never a torn one; at worst a temporary is left behind, and owners
/// of a directory (CheckpointStore) sweep names starting with <see cref="TempPrefix"/>.
/// </summary>
public static partial class DurableFile
{
    public const string TempPrefix = ".tmp-";

    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/> as described above.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"{path}: has no parent directory");
        string temp = Path.Combine(directory, $"{TempPrefix}{Path.GetFileName(full)}-{Guid.NewGuid():N}");
        try
        {
            using (var f = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(f);
                f.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        SyncDirectory(directory);
    }

    /// <summary>UTF-8 text (no byte-order mark, as File.WriteAllText) written durably.</summary>
    public static void WriteAllText(string path, string text) => Write(path, s => s.Write(Encoding.UTF8.GetBytes(text)));

    /// <summary>
    /// Makes the directory's entries (a rename, a created or deleted file) durable: fsync on the directory itself.
    /// .NET refuses to open a directory as a file, so on Linux and macOS this calls libc's open/fsync directly.
    /// On Windows it does nothing: there is no portable way to flush a directory (FlushFileBuffers needs a
    /// backup-semantics handle .NET does not expose), and NTFS journals the rename's metadata itself.
    /// A file system that does not support syncing a directory (EINVAL) is accepted silently; other errors throw.
    /// </summary>
    public static void SyncDirectory(string directory)
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())) return;
        int fd = Open(directory, 0 /* O_RDONLY: enough to fsync, and portable (O_DIRECTORY's value is not) */);
        if (fd < 0) throw new IOException($"{directory}: cannot open the directory to sync it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (Fsync(fd) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                const int EINVAL = 22; // the same on Linux, macOS and FreeBSD
                if (errno != EINVAL) throw new IOException($"{directory}: fsync of the directory failed (errno {errno})");
            }
        }
        finally { _ = Close(fd); }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
