using System.CommandLine;
using System.Globalization;
using Cleft.Kernels;
using Cleft.Kernels.Distributed;

namespace Cleft.Train.Cli;

/// <summary>
/// --dist and --dist-timeout (docs/DISTRIBUTED.md). `mpirun -np N cleft pretrain ...` needs neither: auto picks mpi
/// when a launcher started the process. <see cref="Run"/> binds one GPU per local rank before the device exists,
/// creates the device and the communicator, and makes a rank that fails leave without waiting for the others.
/// </summary>
/// <param name="chooseKind">Whether the command takes --dist (`devices --dist-check KIND` names the kind itself).</param>
public sealed class DistOptions(CommandOptions o, bool chooseKind = true)
{
    readonly Option<string>? _dist = chooseKind ? o.Add("dist", "auto",
        "data parallel over processes: none, mpi (Open MPI, host buffers), nccl (CUDA, NCCL set up over MPI); auto: mpi when started by mpirun/srun, else none",
        v => v == "auto" || Launch.Kinds.Contains(v) ? null : $"one of auto, {string.Join(", ", Launch.Kinds)}") : null;

    readonly Option<int> _timeout = o.Add("dist-timeout", 300,
        "seconds a collective may wait for the other ranks before this rank stops, naming the ranks that no longer answer", CommandOptions.Positive);

    /// <summary>Runs <paramref name="work"/> with the device and the communicator; both are disposed afterwards.</summary>
    public T Run<T>(ParseResult r, DeviceOptions device, Func<IBackend, ICommunicator, T> work, string? kindOverride = null)
    {
        string kind = kindOverride ?? (_dist is null ? throw new InvalidOperationException("DistOptions.Run: no --dist on this command and no kind given") : r.GetValue(_dist)!);
        if (kind == "auto") kind = Launch.DefaultKind;
        if (kind != "none") Launch.BindGpuToLocalRank(Launch.FromEnvironment());
        using var dev = device.Create(r);
        using var comm = Launch.Create(kind, dev, TimeSpan.FromSeconds(r.GetValue(_timeout)));
        if (comm.Size > 1)
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"cleft: {comm.Kind} rank {comm.Rank} of {comm.Size}, pid {Environment.ProcessId} on {Environment.MachineName}"));
        try { return work(dev, comm); }
        catch
        {
            comm.Abandon();
            throw;
        }
    }

    /// <summary>`cleft devices --dist-check KIND`: <see cref="CollectivesCheck"/> on that communicator; 0 when every check passed.</summary>
    public static int Check(ParseResult r, string kind, DeviceOptions device, DistOptions dist, TextWriter output)
    {
        if (kind is not ("mpi" or "nccl")) throw new CliUsageException($"--dist-check takes mpi or nccl, not '{kind}'");
        return dist.Run(r, device, (dev, comm) =>
        {
            if (comm.Rank == 0) output.WriteLine($"{kind}: {comm.Size} rank(s) on {dev.Name}" + (comm is NcclCommunicator n ? $", {n.Library}" : ""));
            return CollectivesCheck.Run(dev, comm, output) == 0 ? 0 : 1;
        }, kind);
    }
}
