using System.Runtime.InteropServices;

namespace Cleft.Kernels.Distributed;

/// <summary>
/// Open MPI's C ABI through function pointers (P/Invoke without a wrapper package: MPI.NET 1.4.0 binds
/// msmpi.dll with MS-MPI's integer handles, which Open MPI does not use; docs/DISTRIBUTED.md). Open MPI's handles
/// are pointers to exported objects: MPI_COMM_WORLD is &amp;ompi_mpi_comm_world, MPI_FLOAT &amp;ompi_mpi_float,
/// MPI_SUM &amp;ompi_mpi_op_sum, so their addresses are looked up as symbols. The library is opened with
/// RTLD_GLOBAL because Open MPI's plugins (mca_*.so) resolve libmpi's symbols from the global namespace.
/// MPICH-family libraries (integer handles) are refused by name.
/// </summary>
internal sealed unsafe class MpiLibrary
{
    public const int Success = 0, ThreadFunneled = 1, AnySource = -1;

    /// <summary>MPI_Status as Open MPI lays it out (MPI_SOURCE, MPI_TAG, MPI_ERROR, then private fields).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Status { public int Source, Tag, Error, Cancelled; public nuint Count; }

    public readonly string Path;
    public readonly IntPtr CommWorld, Float, Byte, Int, OpSum, ErrorsReturn;
    public readonly delegate* unmanaged<int*, int> Initialized, Finalized;
    public readonly delegate* unmanaged<int*, byte***, int, int*, int> InitThread;
    public readonly delegate* unmanaged<int> Finalize;
    public readonly delegate* unmanaged<IntPtr, int*, int> CommRank, CommSize;
    public readonly delegate* unmanaged<IntPtr, IntPtr, int> CommSetErrhandler;
    public readonly delegate* unmanaged<void*, void*, int, IntPtr, IntPtr, IntPtr, IntPtr*, int> Iallreduce;
    public readonly delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, IntPtr, IntPtr*, int> Iallgather;
    public readonly delegate* unmanaged<void*, int, IntPtr, int, IntPtr, IntPtr*, int> Ibcast;
    public readonly delegate* unmanaged<IntPtr, IntPtr*, int> Ibarrier;
    public readonly delegate* unmanaged<IntPtr*, int*, Status*, int> Test;
    public readonly delegate* unmanaged<void*, int, IntPtr, int, int, IntPtr, IntPtr*, int> Isend, Irecv;
    public readonly delegate* unmanaged<int, int, IntPtr, int*, Status*, int> Iprobe;
    public readonly delegate* unmanaged<void*, int, IntPtr, int, int, IntPtr, Status*, int> Recv;
    public readonly delegate* unmanaged<IntPtr*, int> RequestFree;
    public readonly delegate* unmanaged<byte*, int*, int> GetProcessorName;
    public readonly delegate* unmanaged<int, byte*, int*, int> ErrorString;

    MpiLibrary(string path, IntPtr lib)
    {
        Path = path;
        IntPtr Sym(string name) => NativeLibrary.TryGetExport(lib, name, out var p) ? p
            : throw new InvalidOperationException($"{path}: the MPI library has no symbol '{name}'");
        if (!NativeLibrary.TryGetExport(lib, "ompi_mpi_comm_world", out CommWorld))
            throw new InvalidOperationException($"{path}: not Open MPI (no ompi_mpi_comm_world); only Open MPI's ABI is supported (MPICH-family libraries use integer handles)");
        Float = Sym("ompi_mpi_float"); Byte = Sym("ompi_mpi_byte"); Int = Sym("ompi_mpi_int");
        OpSum = Sym("ompi_mpi_op_sum"); ErrorsReturn = Sym("ompi_mpi_errors_return");
        Initialized = (delegate* unmanaged<int*, int>)Sym("MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)Sym("MPI_Finalized");
        InitThread = (delegate* unmanaged<int*, byte***, int, int*, int>)Sym("MPI_Init_thread");
        Finalize = (delegate* unmanaged<int>)Sym("MPI_Finalize");
        CommRank = (delegate* unmanaged<IntPtr, int*, int>)Sym("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<IntPtr, int*, int>)Sym("MPI_Comm_size");
        CommSetErrhandler = (delegate* unmanaged<IntPtr, IntPtr, int>)Sym("MPI_Comm_set_errhandler");
        Iallreduce = (delegate* unmanaged<void*, void*, int, IntPtr, IntPtr, IntPtr, IntPtr*, int>)Sym("MPI_Iallreduce");
        Iallgather = (delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, IntPtr, IntPtr*, int>)Sym("MPI_Iallgather");
        Ibcast = (delegate* unmanaged<void*, int, IntPtr, int, IntPtr, IntPtr*, int>)Sym("MPI_Ibcast");
        Ibarrier = (delegate* unmanaged<IntPtr, IntPtr*, int>)Sym("MPI_Ibarrier");
        Test = (delegate* unmanaged<IntPtr*, int*, Status*, int>)Sym("MPI_Test");
        Isend = (delegate* unmanaged<void*, int, IntPtr, int, int, IntPtr, IntPtr*, int>)Sym("MPI_Isend");
        Irecv = (delegate* unmanaged<void*, int, IntPtr, int, int, IntPtr, IntPtr*, int>)Sym("MPI_Irecv");
        Iprobe = (delegate* unmanaged<int, int, IntPtr, int*, Status*, int>)Sym("MPI_Iprobe");
        Recv = (delegate* unmanaged<void*, int, IntPtr, int, int, IntPtr, Status*, int>)Sym("MPI_Recv");
        RequestFree = (delegate* unmanaged<IntPtr*, int>)Sym("MPI_Request_free");
        GetProcessorName = (delegate* unmanaged<byte*, int*, int>)Sym("MPI_Get_processor_name");
        ErrorString = (delegate* unmanaged<int, byte*, int*, int>)Sym("MPI_Error_string");
    }

    static MpiLibrary? _loaded;
    static readonly Lock Gate = new();

    /// <summary>
    /// Opens Open MPI: $CLEFT_MPI_LIBRARY, else libmpi.so.40 (Open MPI 3-5) or libmpi.so from the loader's path.
    /// Missing: an error naming the library and the Debian packages that bring it.
    /// </summary>
    public static MpiLibrary Load()
    {
        lock (Gate)
        {
            if (_loaded is not null) return _loaded;
            string[] names = Environment.GetEnvironmentVariable("CLEFT_MPI_LIBRARY") is { Length: > 0 } given ? [given] : ["libmpi.so.40", "libmpi.so"];
            var errors = new List<string>();
            foreach (var name in names)
            {
                IntPtr lib = DlOpen(name, RtldNow | RtldGlobal);
                if (lib != IntPtr.Zero) return _loaded = new MpiLibrary(name, lib);
                errors.Add(DlError());
            }
            throw new InvalidOperationException($"MPI library not found: tried {string.Join(", ", names)} ({string.Join("; ", errors)}); " +
                "install Open MPI (Debian: apt-get install openmpi-bin libopenmpi-dev, or scripts/install-mpi.sh) or set CLEFT_MPI_LIBRARY to libmpi.so's path");
        }
    }

    /// <summary>Open MPI's text for an error code.</summary>
    public string Describe(int code)
    {
        var text = stackalloc byte[512];
        int length = 0;
        return ErrorString(code, text, &length) == Success ? $"{Marshal.PtrToStringUTF8((IntPtr)text, length)} (MPI error {code})" : $"MPI error {code}";
    }

    const int RtldNow = 2, RtldGlobal = 0x100;
    [DllImport("libc", EntryPoint = "dlopen")] static extern IntPtr DlOpenNative(string file, int mode);
    [DllImport("libc", EntryPoint = "dlerror")] static extern IntPtr DlErrorNative();
    [DllImport("libc", EntryPoint = "setenv")] static extern int SetEnvNative(string name, string value, int overwrite);

    static IntPtr DlOpen(string file, int mode) => DlOpenNative(file, mode);
    static string DlError() => Marshal.PtrToStringUTF8(DlErrorNative()) ?? "unknown dlopen error";

    /// <summary>
    /// Sets a variable in the process's C environment (what the MPI library reads with getenv; .NET's
    /// Environment.SetEnvironmentVariable changes only the managed copy), unless it is already set.
    /// </summary>
    public static void DefaultEnvironment(string name, string value)
    {
        if (Environment.GetEnvironmentVariable(name) is null && SetEnvNative(name, value, 0) == 0)
            Environment.SetEnvironmentVariable(name, value);
    }
}
