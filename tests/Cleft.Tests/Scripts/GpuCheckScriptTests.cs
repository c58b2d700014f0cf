using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Cleft.Tests.Scripts;

/// <summary>
/// scripts/gpu-check.sh without a GPU: the clean "no CUDA device" report, the pass/fail accounting and time limit
/// of the GPU steps (driven by a stand-in nvidia-smi, since no real one is here), and the awk loss comparison.
/// The publish is always skipped (--no-publish / --run): it takes minutes.
/// </summary>
public sealed class GpuCheckScriptTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "cleft-gpucheck-" + Guid.NewGuid().ToString("N"));

    public GpuCheckScriptTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ScriptParses() => Assert.Equal(0, Bash(["-n", Script]).Exit);

    [Fact]
    public void WithoutCudaDeviceReportsItCleanlyAndExitsZero()
    {
        var r = Run(["--no-publish"], smi: Path.Combine(_dir, "no-such-nvidia-smi"));
        Assert.True(r.Exit == 0, r.ToString());
        Assert.Contains("gpu-check: no CUDA device", r.Stdout);
        Assert.Equal("gpu-check: 0 passed, 0 failed", LastLine(r.Stdout));
    }

    [Fact]
    public void MissingBinaryAfterAWorkingDeviceQueryIsAFailure()
    {
        var r = Run(["--run"], smi: FakeSmi("echo 'name, driver_version, memory.total [MiB]'; echo 'Test GPU, 1.0, 1 MiB'"),
            bin: Path.Combine(_dir, "no-such-cleft"));
        Assert.True(r.Exit == 1, r.ToString());
        Assert.Contains("Test GPU, 1.0, 1 MiB", r.Stdout);
        Assert.Contains("gpu-check: [ok] device (exit 0", r.Stdout);
        Assert.Contains("no-such-cleft not found", r.Stdout);
        Assert.Equal("gpu-check: 1 passed, 1 failed", LastLine(r.Stdout));
    }

    [Fact]
    public void AStepPastTheOverallLimitIsStoppedAndReported()
    {
        var r = Run(["--run"], smi: FakeSmi("exec sleep 20"), timeout: "1");
        Assert.True(r.Exit == 1, r.ToString());
        Assert.Contains("gpu-check: [FAIL] device (exit 124, stopped by the 1 s limit", r.Stdout);
        Assert.Equal("gpu-check: 0 passed, 1 failed", LastLine(r.Stdout));
    }

    [Fact]
    public void UnknownArgumentIsAUsageError()
    {
        var r = Run(["--bogus"]);
        Assert.Equal(2, r.Exit);
        Assert.Contains("unknown argument '--bogus'", r.Stderr);
    }

    [Fact]
    public void CompareTakesTheLargestLossDifferenceOverSharedTrainSteps()
    {
        // Val lines and steps only one run logged must not count; the exponent form is what .NET writes for small floats.
        string a = Jsonl("a", """{"kind":"val","step":10,"val_loss":9.0}""", """{"kind":"train","step":10,"loss":3.0,"lr":1E-05}""",
            """{"kind":"train","step":20,"loss":2.5}""", """{"kind":"train","step":30,"loss":7.0}""");
        string b = Jsonl("b", """{"kind":"train","step":10,"loss":3.125,"lr":1E-05}""", """{"kind":"val","step":20,"val_loss":0.0}""",
            """{"kind":"train","step":20,"loss":2.25}""", """{"kind":"train","step":40,"loss":0.0}""", """{"kind":"train","step":50,"loss":5E-01}""");
        var r = Run(["--compare", a, b]);
        Assert.True(r.Exit == 0, r.ToString());
        Assert.Equal("max |loss difference| 0.25 at step 20 over 2 shared steps", r.Stdout.Trim());
    }

    [Fact]
    public void CompareWithNoSharedTrainStepFails()
    {
        var r = Run(["--compare", Jsonl("a", """{"kind":"train","step":10,"loss":3.0}"""), Jsonl("b", """{"kind":"val","step":10,"val_loss":3.0}""")]);
        Assert.Equal(1, r.Exit);
        Assert.Contains("no train steps in common", r.Stderr);
    }

    sealed record Result(int Exit, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {Exit}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
    }

    static string Script => Path.Combine(RepoRoot(), "scripts", "gpu-check.sh");

    static string RepoRoot([CallerFilePath] string here = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));

    static string LastLine(string text) => text.TrimEnd().Split('\n')[^1];

    string FakeSmi(string body)
    {
        string path = Path.Combine(_dir, "nvidia-smi");
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("gpu-check.sh runs on Linux only");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    string Jsonl(string name, params string[] lines)
    {
        string path = Path.Combine(_dir, name + ".jsonl");
        File.WriteAllText(path, string.Join("\n", lines) + "\n");
        return path;
    }

    Result Run(string[] args, string? smi = null, string? bin = null, string? timeout = null)
    {
        var env = new Dictionary<string, string>
        {
            // A name that cannot exist unless a test supplies one, so a machine with a real GPU takes the same path.
            ["CLEFT_GPU_CHECK_NVIDIA_SMI"] = smi ?? Path.Combine(_dir, "no-such-nvidia-smi"),
            ["CLEFT_GPU_CHECK_BIN"] = bin ?? Path.Combine(_dir, "no-such-cleft"),
        };
        if (timeout is not null) env["CLEFT_GPU_CHECK_TIMEOUT"] = timeout;
        return Bash([Script, .. args], env);
    }

    static Result Bash(string[] args, Dictionary<string, string>? env = null)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? []) start.Environment[k] = v;
        using var p = Process.Start(start) ?? throw new InvalidOperationException("could not start bash");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"bash {string.Join(' ', args)} still running after 30 s");
        }
        p.WaitForExit();
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
