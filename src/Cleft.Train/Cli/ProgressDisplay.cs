using Spectre.Console;

namespace Cleft.Train.Cli;

/// <summary>Receives progress from long work: units done so far and a short status ("loss 1.23  lr 4.0e-05").</summary>
public interface IProgressTicker
{
    void Update(int done, string status);
    /// <summary>A line that must stay in the log (an evaluation result, a checkpoint), printed above the bar.</summary>
    void Note(string line);
}

/// <summary>
/// Progress of long work: a Spectre.Console bar (step/total, rate, ETA and the caller's status) when stdout is
/// an interactive terminal, else one plain line every <c>every</c> units (and at the end), so logs of
/// redirected or CI runs stay readable.
/// </summary>
public static class ProgressDisplay
{
    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    public static T Run<T>(TextWriter log, string title, int total, int start, int every, Func<IProgressTicker, T> work)
    {
        if (!Interactive || !ReferenceEquals(log, Console.Out))
            return work(new PlainTicker(log, title, total, start, Math.Max(1, every)));
        return AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: total);
                task.Value = start;
                return work(new SpectreTicker(task, title, total));
            });
    }

    public static void Run(TextWriter log, string title, int total, int start, int every, Action<IProgressTicker> work) =>
        Run<object?>(log, title, total, start, every, t => { work(t); return null; });

    sealed class SpectreTicker(ProgressTask task, string title, int total) : IProgressTicker
    {
        public void Update(int done, string status)
        {
            task.Value = done;
            task.Description = Markup.Escape($"{title} {done}/{total}  {status}");
        }

        public void Note(string line) => AnsiConsole.MarkupLine(Markup.Escape(line));
    }

    sealed class PlainTicker(TextWriter log, string title, int total, int start, int every) : IProgressTicker
    {
        readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

        public void Update(int done, string status)
        {
            if (done % every != 0 && done != total) return;
            double rate = (done - start) / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9);
            string eta = rate > 0 && done < total ? $"  eta {TimeSpan.FromSeconds((total - done) / rate):hh\\:mm\\:ss}" : "";
            log.WriteLine($"{title} {done}/{total}  {status}{eta}");
        }

        public void Note(string line) => log.WriteLine(line);
    }
}
