using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Cleft.Train.Cli;

/// <summary>
/// A command's options with their defaults, built on System.CommandLine. Besides declaring options it keeps a
/// getter for each, so the resolved values (flags, --config file and defaults merged) can be written to the
/// run's config.json under the option names — which --config reads back.
/// </summary>
public sealed class CommandOptions
{
    readonly List<(Option Option, Func<ParseResult, object?> Get)> _all = [];

    public CommandOptions(Command command)
    {
        Command = command;
        // Read before parsing by CliApp (it splices the file's options into the command line); declared here for --help.
        command.Options.Add(new Option<string?>("--config") { Description = "JSON file of options (a flat object, or a run's config.json); flags given here win", HelpName = "FILE.json" });
    }

    public Command Command { get; }

    public Option<T> Add<T>(string name, T defaultValue, string description, Func<T, string?>? validate = null)
    {
        var o = new Option<T>("--" + name) { Description = description, DefaultValueFactory = _ => defaultValue };
        return Register(o, validate);
    }

    /// <summary>An option with no default: null when not given.</summary>
    public Option<T?> Optional<T>(string name, string description, Func<T, string?>? validate = null) where T : struct
    {
        var o = new Option<T?>("--" + name) { Description = description };
        return Register(o, validate is null ? null : v => v is { } x ? validate(x) : null);
    }

    public Option<string?> OptionalString(string name, string description, bool required = false)
    {
        var o = new Option<string?>("--" + name) { Description = description, Required = required };
        return Register(o, null);
    }

    public Option<bool> Flag(string name, string description)
    {
        var o = new Option<bool>("--" + name) { Description = description };
        return Register(o, null);
    }

    Option<T> Register<T>(Option<T> o, Func<T, string?>? validate)
    {
        if (validate is not null)
            o.Validators.Add(r =>
            {
                if (r.Tokens.Count == 0 && r.Implicit) return;
                T v;
                try { v = r.GetValueOrDefault<T>(); }
                catch (InvalidOperationException) { return; } // unparsable: the parser reports it already
                if (validate(v) is { } problem) r.AddError($"{o.Name} {Format(v)}: {problem}");
            });
        Command.Options.Add(o);
        _all.Add((o, r => r.GetValue(o)));
        return o;
    }

    /// <summary>Every option's resolved value by name without dashes (what config.json records).</summary>
    public Dictionary<string, object?> Resolved(ParseResult result) =>
        _all.ToDictionary(x => x.Option.Name.TrimStart('-'), x => x.Get(result));

    public IEnumerable<string> Names => _all.Select(x => x.Option.Name.TrimStart('-'));

    static string Format(object? v) => v is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : v?.ToString() ?? "";

    // Range checks shared by the commands.
    public static string? Positive(int v) => v > 0 ? null : "must be positive";
    public static string? NonNegative(int v) => v >= 0 ? null : "must be >= 0";
    public static string? Positive(float v) => v > 0 && float.IsFinite(v) ? null : "must be a positive number";
    public static string? NonNegative(float v) => v >= 0 && float.IsFinite(v) ? null : "must be >= 0";
    public static string? Probability(float v) => v is >= 0 and < 1 ? null : "must be in [0, 1)";
    public static string? Positive(double v) => v > 0 && double.IsFinite(v) ? null : "must be a positive number";
}
