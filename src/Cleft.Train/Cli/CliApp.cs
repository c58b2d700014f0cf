using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Cleft.Train.Data;

namespace Cleft.Train.Cli;

/// <summary>
/// The `cleft` console on System.CommandLine. Every command has --help with its defaults. Exit codes: 0 done,
/// 1 the work failed (bad data, a diverged run: one line naming the file or step), 2 the command line was
/// wrong (unknown or invalid option: one line). `--config FILE.json` supplies options from a file — a flat
/// object of option names, or a run's config.json (its "options") — and flags on the command line win.
/// </summary>
public static class CliApp
{
    public static int Run(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        output ??= Console.Out;
        error ??= Console.Error;
        var root = new RootCommand("cleft: CLEFT (MICCAI 2024) vision-language pretraining on a from-scratch .NET engine");
        foreach (var c in Commands(output)) root.Subcommands.Add(c);

        string[] expanded;
        try { expanded = ExpandConfig(root, args); }
        catch (CliUsageException e) { error.WriteLine($"cleft: {e.Message}"); return 2; }

        if (expanded.Length == 0) // no command: the overview, as a usage error
        {
            root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = output, Error = error });
            return 2;
        }
        var parsed = root.Parse(expanded);
        if (parsed.Errors.Count > 0)
        {
            string command = CommandPath(parsed.CommandResult);
            error.WriteLine($"cleft{(command.Length > 0 ? " " + command : "")}: {parsed.Errors[0].Message} (see 'cleft {command}{(command.Length > 0 ? " " : "")}--help')");
            return 2;
        }
        try { return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }); }
        catch (Exception e) when (Failure(e) is { } message)
        {
            error.WriteLine($"cleft {CommandPath(parsed.CommandResult)}: {message}");
            return e is CliUsageException ? 2 : 1;
        }
    }

    static IEnumerable<Command> Commands(TextWriter output) =>
    [
        DemoCommand.Create(output), PretrainCommand.Create(output), PromptCommand.Create(output), PtunifierCommand.Create(output),
        EvalCommands.ZeroShot(output), EvalCommands.Probe(output), EvalCommands.Retrieve(output), EvalCommands.Classify(output),
        ToolCommands.Synth(output), ToolCommands.Params(output), CompareCommand.Create(output), ToolCommands.Devices(output), ToolCommands.Mlp(output), ToolCommands.Ptx(output),
    ];

    /// <summary>"pretrain", or "ptunifier pretrain" for a command inside a group; "" for the root.</summary>
    static string CommandPath(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new List<string>();
        for (var r = result; r is not null && r.Command is not RootCommand; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Command.Name);
        return string.Join(' ', names);
    }

    /// <summary>The message for an expected failure (bad input, a diverged run), or null for a bug (rethrown with its stack).</summary>
    static string? Failure(Exception e) => e switch
    {
        ManifestException or CsvFormatException or ImageLoadException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException
            or ArgumentException or NotSupportedException or InvalidOperationException or Training.TrainingDivergedException or CliUsageException
            or IOException or UnauthorizedAccessException => e.Message,
        _ => null,
    };

    /// <summary>Inserts the options of --config FILE that the command line does not already give.</summary>
    static string[] ExpandConfig(RootCommand root, string[] args)
    {
        int at = Array.IndexOf(args, "--config");
        if (at < 0) return args;
        if (at + 1 >= args.Length) throw new CliUsageException("--config needs a FILE.json");
        string file = args[at + 1];
        var rest = args.Take(at).Concat(args.Skip(at + 2)).ToList();
        Command command = root.Subcommands.FirstOrDefault(c => rest.Count > 0 && c.Name == rest[0])
            ?? throw new CliUsageException("--config goes after a command, e.g. 'cleft pretrain --config run.json'");
        // A command group (`cleft ptunifier pretrain`): the options belong to the innermost named subcommand.
        for (int depth = 1; depth < rest.Count && command.Subcommands.FirstOrDefault(c => c.Name == rest[depth]) is { } sub; depth++) command = sub;
        JsonElement options;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            options = (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("options", out var o) ? o : doc.RootElement).Clone();
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new CliUsageException($"--config {file}: {e.Message}");
        }
        // Found by the fuzzer: an escaped lone surrogate ("\ud800") passes the parser and throws
        // InvalidOperationException only when that name or string is read; it is a bad file like any other.
        catch (InvalidOperationException e) { throw InvalidEscape(file, e); }
        try { return Insert(command, rest, options, file); }
        catch (InvalidOperationException e) { throw InvalidEscape(file, e); }
    }

    static CliUsageException InvalidEscape(string file, InvalidOperationException e) =>
        new($"--config {file}: a name or string holds an invalid escape ({e.Message})");

    static string[] Insert(Command command, List<string> rest, JsonElement options, string file)
    {
        if (options.ValueKind != JsonValueKind.Object) throw new CliUsageException($"--config {file}: expected a JSON object of options");
        var known = command.Options.Select(o => o.Name.TrimStart('-')).ToHashSet();
        var given = rest.Where(a => a.StartsWith("--", StringComparison.Ordinal)).Select(a => a[2..].Split('=')[0]).ToHashSet();
        foreach (var p in options.EnumerateObject())
        {
            if (!known.Contains(p.Name)) throw new CliUsageException($"--config {file}: '{p.Name}' is not an option of 'cleft {command.Name}'");
            if (given.Contains(p.Name) || p.Value.ValueKind == JsonValueKind.Null) continue;
            rest.Add("--" + p.Name);
            rest.Add(p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString()!,
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                JsonValueKind.Number => p.Value.GetRawText(),
                JsonValueKind.Array => string.Join(',', p.Value.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString() : x.GetRawText())),
                _ => throw new CliUsageException($"--config {file}: '{p.Name}' must be a string, number, boolean or list"),
            });
        }
        return [.. rest];
    }

    public static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A command-line mistake found after parsing (a combination of options that cannot work): exit code 2.</summary>
public sealed class CliUsageException(string message) : Exception(message);
