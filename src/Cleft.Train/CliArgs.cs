namespace Cleft.Train;

/// <summary>Minimal --name value parser: every option is named, unknown ones are errors.</summary>
public sealed class CliArgs
{
    readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public CliArgs(IEnumerable<string> args)
    {
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            string a = list[i];
            if (!a.StartsWith("--", StringComparison.Ordinal)) throw new CliException($"unexpected argument '{a}' (options look like --name value)");
            string name = a[2..];
            string value;
            int eq = name.IndexOf('=');
            if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
            else if (i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal)) value = list[++i];
            else value = "true";
            _values[name] = value;
        }
    }

    public string String(string name, string fallback) { _used.Add(name); return _values.GetValueOrDefault(name, fallback); }
    public string? Optional(string name) { _used.Add(name); return _values.GetValueOrDefault(name); }
    public bool Flag(string name) { _used.Add(name); return _values.TryGetValue(name, out var v) && v != "false"; }

    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out var s)) return fallback;
        if (!int.TryParse(s, out int v) || v < min || v > max) throw new CliException($"--{name} must be an integer in [{min}, {max}], got '{s}'");
        return v;
    }

    public float Float(string name, float fallback, float min = float.MinValue, float max = float.MaxValue)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out var s)) return fallback;
        if (!float.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out float v) || !float.IsFinite(v) || v < min || v > max)
            throw new CliException($"--{name} must be a number in [{min}, {max}], got '{s}'");
        return v;
    }

    /// <summary>Fails on options the command never asked for (typos such as --step instead of --steps).</summary>
    public void RejectUnknown(string command)
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0) throw new CliException($"{command}: unknown option(s) {string.Join(", ", unknown.Select(u => "--" + u))}");
    }
}

public sealed class CliException(string message) : Exception(message);
