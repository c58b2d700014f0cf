namespace Cleft.Kernels.Distributed;

/// <summary>This process's place in a job as its launcher describes it in the environment (before MPI is initialised).</summary>
/// <param name="Launcher">Which variables said so: "mpirun" (Open MPI), "pmi" (MPICH-style PMI, srun --mpi=pmi2), "slurm" (srun).</param>
public sealed record LaunchInfo(int Rank, int Size, int? LocalRank, string Launcher);

/// <summary>
/// Choosing and creating the communicator for `--dist none|mpi|nccl`: rank and size from the launcher's
/// environment (Open MPI's OMPI_COMM_WORLD_*, PMI_*, Slurm's SLURM_*), the default kind (mpi when a launcher
/// started us), one GPU per local rank, and the communicator itself.
/// </summary>
public static class Launch
{
    public static readonly string[] Kinds = ["none", "mpi", "nccl"];

    /// <summary>What the launcher's variables say, or null when no launcher started this process.</summary>
    public static LaunchInfo? FromEnvironment()
    {
        static int? Int(string name) => int.TryParse(Environment.GetEnvironmentVariable(name), out int v) ? v : null;
        if (Int("OMPI_COMM_WORLD_RANK") is { } r && Int("OMPI_COMM_WORLD_SIZE") is { } s) return new(r, s, Int("OMPI_COMM_WORLD_LOCAL_RANK"), "mpirun");
        if (Int("PMI_RANK") is { } pr && Int("PMI_SIZE") is { } ps) return new(pr, ps, Int("MPI_LOCALRANKID") ?? Int("SLURM_LOCALID"), "pmi");
        if (Int("SLURM_PROCID") is { } sr && Int("SLURM_NTASKS") is { } sn && Environment.GetEnvironmentVariable("SLURM_STEP_ID") is not null)
            return new(sr, sn, Int("SLURM_LOCALID"), "slurm");
        return null;
    }

    /// <summary>The --dist default: mpi when a launcher started this process, else none.</summary>
    public static string DefaultKind => FromEnvironment() is null ? "none" : "mpi";

    /// <summary>
    /// One GPU per rank on a machine with several: unless CUDA_VISIBLE_DEVICES is already set (by the user or the
    /// scheduler), rank r of a node sees only GPU r mod (GPUs on the node). Must run before the CUDA device is created.
    /// </summary>
    public static void BindGpuToLocalRank(LaunchInfo? launch)
    {
        if (launch?.LocalRank is not { } local || Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES") is not null) return;
        const string gpus = "/proc/driver/nvidia/gpus";
        int count = Directory.Exists(gpus) ? Directory.GetDirectories(gpus).Length : 0;
        if (count > 1) MpiLibrary.DefaultEnvironment("CUDA_VISIBLE_DEVICES", (local % count).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// The communicator for <paramref name="kind"/>: none (one process; refused under a launcher with several ranks,
    /// which would train copies into one run folder), mpi (<see cref="MpiCommunicator"/>) or nccl
    /// (<see cref="NcclCommunicator"/>, its id sent over MPI when launched, else one rank).
    /// </summary>
    public static ICommunicator Create(string kind, IBackend device, TimeSpan timeout)
    {
        var launch = FromEnvironment();
        switch (kind)
        {
            case "none":
                if (launch is { Size: > 1 })
                    throw new ArgumentException($"--dist none, but {launch.Launcher} started {launch.Size} ranks: each would train alone into the same run folder; use --dist mpi or nccl");
                return new SingleProcess();
            case "mpi":
                return MpiCommunicator.Initialize(timeout);
            case "nccl":
                ICommunicator bootstrap = launch is null ? new SingleProcess() : MpiCommunicator.Initialize(timeout);
                try { return new NcclCommunicator(device, bootstrap, timeout); }
                catch { bootstrap.Dispose(); throw; }
            default:
                throw new ArgumentException($"unknown --dist '{kind}'; one of {string.Join(", ", Kinds)}");
        }
    }
}
