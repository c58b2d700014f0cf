using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace Cleft.Benchmarks;

/// <summary>
/// Option factories for the benchmark console. Numbers are read in the invariant culture, so a command line pasted from
/// the docs means the same on every machine, and a list is one comma-separated token (--sizes 192,384), as the docs
/// write it. A value that does not parse or fails its check is a parse error naming the option, so nothing runs.
/// </summary>
static class ConsoleOptions
{
    /// <summary>A number with a default (shown by --help).</summary>
    public static Option<T> Number<T>(string name, T defaultValue, string description, Func<T, string?>? check = null) where T : INumber<T>
    {
        string option = "--" + name;
        return new Option<T>(option)
        {
            Description = description,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r =>
            {
                string token = r.Tokens[0].Value;
                // Float rather than double's default Float | AllowThousands: a decimal comma (0,5) is an error, not 5.
                bool parsed = T.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out T? value);
                return Accept(r, option, token, parsed, value!, check) ? value : default;
            },
        };
    }

    public static Option<string> Text(string name, string defaultValue, string description) =>
        new("--" + name) { Description = description, DefaultValueFactory = _ => defaultValue };

    /// <summary>A string with no default: null when not given.</summary>
    public static Option<string?> Optional(string name, string description, string helpName) =>
        new("--" + name) { Description = description, HelpName = helpName };

    /// <summary>
    /// A comma-separated list in one token (integers or names); null when not given, and the description names the
    /// default (--help would print a list default as "a|b|c", not in the syntax the option takes). <paramref name="check"/>
    /// applies to each element.
    /// </summary>
    public static Option<T[]?> List<T>(string name, string description, string helpName, Func<T, string?> check) where T : IParsable<T>
    {
        string option = "--" + name;
        return new Option<T[]?>(option)
        {
            Description = description,
            HelpName = helpName,
            // One token: `--sizes 192 384` leaves 384 unmatched (an error) instead of silently taking it.
            Arity = ArgumentArity.ExactlyOne,
            CustomParser = r =>
            {
                var values = new List<T>();
                foreach (string element in r.Tokens[0].Value.Split(','))
                {
                    if (!Accept(r, option, element, T.TryParse(element, CultureInfo.InvariantCulture, out T? value), value!, check)) return null;
                    values.Add(value!);
                }
                return [.. values];
            },
        };
    }

    /// <summary>
    /// A list's value, or null when it was not given. ParseResult.GetValue reads an absent list as empty, which would
    /// run no case at all (--cases) or hide a case's own default sizes (--sizes).
    /// </summary>
    public static T[]? GetList<T>(this ParseResult parsed, Option<T[]?> option) => parsed.GetResult(option) is null ? null : parsed.GetValue(option);

    public static Option<bool> Flag(string name, string description) => new("--" + name) { Description = description };

    public static Func<int, string?> AtLeast(int min) => v => v >= min ? null : $"must be at least {min}";

    static bool Accept<T>(ArgumentResult r, string option, string token, bool parsed, T value, Func<T, string?>? check)
    {
        if (!parsed)
        {
            r.AddError($"{option}: '{token}' is not {(typeof(T) == typeof(int) ? "an integer" : "a number")}");
            return false;
        }
        if (check?.Invoke(value) is { } problem)
        {
            r.AddError($"{option} {token}: {problem}");
            return false;
        }
        return true;
    }
}
