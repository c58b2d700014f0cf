using System.Runtime.InteropServices;

namespace Cleft.Kernels.Distributed;

/// <summary>
/// libnccl.so.2 through function pointers, plus cuStreamQuery from the CUDA driver (the watchdog polls the
/// stream instead of blocking on it). NCCL is not a Debian package: it comes with a CUDA installation or with
/// PyTorch's wheels (pip's nvidia-nccl-cu12 puts it under site-packages/nvidia/nccl/lib), so those places are
/// searched after $CLEFT_NCCL_LIBRARY and the loader's own path.
/// </summary>
internal sealed unsafe class NcclLibrary
{
    public const int Success = 0, Uint8 = 1, Float32 = 7, OpSum = 0, OpAvg = 4, CudaNotReady = 600;
    public const string FileName = "libnccl.so.2";

    /// <summary>ncclUniqueId: 128 opaque bytes, passed by value to ncclCommInitRank.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct UniqueId { public fixed byte Bytes[128]; }

    public readonly string Path;
    public readonly int Version;
    public readonly delegate* unmanaged<UniqueId*, int> GetUniqueId;
    public readonly delegate* unmanaged<IntPtr*, int, UniqueId, int, int> CommInitRank;
    public readonly delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> AllReduce;
    public readonly delegate* unmanaged<IntPtr, IntPtr, nuint, int, IntPtr, IntPtr, int> AllGather;
    public readonly delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> Broadcast;
    public readonly delegate* unmanaged<int> GroupStart, GroupEnd;
    public readonly delegate* unmanaged<IntPtr, int> CommDestroy, CommAbort;
    public readonly delegate* unmanaged<IntPtr, int*, int> CommGetAsyncError;
    public readonly delegate* unmanaged<int, IntPtr> GetErrorString;
    public readonly delegate* unmanaged<IntPtr, int> StreamQuery;

    NcclLibrary(string path, IntPtr lib, IntPtr cuda)
    {
        Path = path;
        IntPtr Sym(IntPtr from, string name) => NativeLibrary.TryGetExport(from, name, out var p) ? p
            : throw new InvalidOperationException($"{path}: no symbol '{name}' (NCCL 2.10 or newer is needed)");
        GetUniqueId = (delegate* unmanaged<UniqueId*, int>)Sym(lib, "ncclGetUniqueId");
        CommInitRank = (delegate* unmanaged<IntPtr*, int, UniqueId, int, int>)Sym(lib, "ncclCommInitRank");
        AllReduce = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)Sym(lib, "ncclAllReduce");
        AllGather = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, IntPtr, IntPtr, int>)Sym(lib, "ncclAllGather");
        Broadcast = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)Sym(lib, "ncclBroadcast");
        GroupStart = (delegate* unmanaged<int>)Sym(lib, "ncclGroupStart");
        GroupEnd = (delegate* unmanaged<int>)Sym(lib, "ncclGroupEnd");
        CommDestroy = (delegate* unmanaged<IntPtr, int>)Sym(lib, "ncclCommDestroy");
        CommAbort = (delegate* unmanaged<IntPtr, int>)Sym(lib, "ncclCommAbort");
        CommGetAsyncError = (delegate* unmanaged<IntPtr, int*, int>)Sym(lib, "ncclCommGetAsyncError");
        GetErrorString = (delegate* unmanaged<int, IntPtr>)Sym(lib, "ncclGetErrorString");
        StreamQuery = (delegate* unmanaged<IntPtr, int>)Sym(cuda, "cuStreamQuery");
        int version = 0;
        ((delegate* unmanaged<int*, int>)Sym(lib, "ncclGetVersion"))(&version);
        Version = version;
    }

    public string Describe(int code) => $"{Marshal.PtrToStringUTF8(GetErrorString(code)) ?? "unknown"} (NCCL error {code})";

    static NcclLibrary? _loaded;
    static readonly Lock Gate = new();

    /// <summary>Loads NCCL from the first place that has it; none: an error naming the library and every place searched.</summary>
    public static NcclLibrary Load()
    {
        lock (Gate)
        {
            if (_loaded is not null) return _loaded;
            if (!NativeLibrary.TryLoad("libcuda.so.1", out var cuda))
                throw new InvalidOperationException("NCCL needs the CUDA driver: libcuda.so.1 not found (no NVIDIA driver on this machine)");
            var tried = new List<string>();
            foreach (var candidate in Candidates())
            {
                tried.Add(candidate);
                if (NativeLibrary.TryLoad(candidate, out var lib)) return _loaded = new NcclLibrary(candidate, lib, cuda);
            }
            throw new InvalidOperationException($"{FileName} (NCCL) not found; searched: {string.Join(", ", tried.Distinct())}. Install NCCL with CUDA, " +
                "or `pip install nvidia-nccl-cu12` (PyTorch's CUDA wheels bring it too), or set CLEFT_NCCL_LIBRARY to the file");
        }
    }

    /// <summary>$CLEFT_NCCL_LIBRARY, the loader's path, CUDA's lib folders, then nvidia/nccl/lib under every Python site-packages found.</summary>
    static IEnumerable<string> Candidates()
    {
        if (Environment.GetEnvironmentVariable("CLEFT_NCCL_LIBRARY") is { Length: > 0 } given) { yield return given; yield break; }
        yield return FileName;
        foreach (var dir in new[] { Environment.GetEnvironmentVariable("CUDA_HOME"), "/usr/local/cuda", "/usr/lib/x86_64-linux-gnu", "/usr/lib64" })
            if (dir is { Length: > 0 }) yield return System.IO.Path.Combine(dir, dir.EndsWith("-gnu", StringComparison.Ordinal) || dir.EndsWith("lib64", StringComparison.Ordinal) ? "" : "lib64", FileName);
        var roots = new[] { Environment.GetEnvironmentVariable("VIRTUAL_ENV"), Environment.GetEnvironmentVariable("CONDA_PREFIX"),
            Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) + "/.local", "/usr/local", "/usr", "/opt/conda" };
        foreach (var root in roots)
        {
            if (root is not { Length: > 0 } || !Directory.Exists(System.IO.Path.Combine(root, "lib"))) continue;
            IEnumerable<string> pythons;
            try { pythons = Directory.EnumerateDirectories(System.IO.Path.Combine(root, "lib"), "python3*").ToList(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            foreach (var py in pythons)
                foreach (var packages in new[] { "site-packages", "dist-packages" })
                    yield return System.IO.Path.Combine(py, packages, "nvidia", "nccl", "lib", FileName);
        }
    }
}
