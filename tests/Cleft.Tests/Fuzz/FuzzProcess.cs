using System.Diagnostics;
using System.Text.Json;
using Cleft.Fuzz;

namespace Cleft.Tests.Fuzz;

/// <summary>
/// Runs one format's batch in a child process (Cleft.Fuzz.dll, built beside this assembly through the project
/// reference), so a stack overflow, an abort or a hang ends that format's row and not the test host. A child that
/// dies without its RESULT line becomes a row with one failure naming the case it was running.
/// </summary>
static class FuzzProcess
{
    /// <summary>Longer than any healthy batch (seconds) and than the child's own hang watchdog.</summary>
    static readonly TimeSpan Limit = TimeSpan.FromSeconds(100);

    public static FormatResult Run(string format, int cases, ulong seed, string failureDir)
    {
        string dir = AppContext.BaseDirectory;
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = dir,
        };
        foreach (var a in new[] { Path.Combine(dir, "Cleft.Fuzz.dll"), format, cases.ToString(), seed.ToString(), Path.Combine(dir, "Fixtures"), failureDir })
            start.ArgumentList.Add(a);
        using var p = Process.Start(start) ?? throw new InvalidOperationException("could not start Cleft.Fuzz");
        string lastCase = "before the first case", result = "", hang = "";
        var stderr = p.StandardError.ReadToEndAsync();
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line) return;
            if (line.StartsWith("CASE ", StringComparison.Ordinal)) lastCase = "in case " + line[5..];
            else if (line.StartsWith("RESULT ", StringComparison.Ordinal)) result = line[7..];
            else if (line.StartsWith("HANG ", StringComparison.Ordinal)) hang = line;
        };
        p.BeginOutputReadLine();
        if (!p.WaitForExit(Limit))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            return Died(format, $"still running after {Limit.TotalSeconds:0} s, {lastCase}");
        }
        p.WaitForExit(); // drains the asynchronous stdout reader
        if (p.ExitCode == 0 && result.Length > 0) return JsonSerializer.Deserialize<FormatResult>(result)!;
        string why = hang.Length > 0 ? hang : $"the process died (exit code {p.ExitCode}) {lastCase}: {Tail(stderr.Result)}";
        return Died(format, why + $" (rerun: dotnet Cleft.Fuzz.dll {format} {cases} {seed} Fixtures OUT --case N)");
    }

    static FormatResult Died(string format, string why) => new() { Format = format, Failures = [$"{format}: {why}"] };

    static string Tail(string s) => s.Length <= 2000 ? s.Trim() : "..." + s[^2000..].Trim();
}
