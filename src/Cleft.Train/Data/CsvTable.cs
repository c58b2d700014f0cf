using System.Text;

namespace Cleft.Train.Data;

/// <summary>A CSV file that does not parse or lacks a needed column; names the file and (1-based) line.</summary>
public sealed class CsvFormatException(string file, int line, string reason)
    : Exception(line > 0 ? $"{file}:{line}: {reason}" : $"{file}: {reason}")
{
    public string File { get; } = file;
    public int Line { get; } = line;
}

/// <summary>
/// RFC 4180 CSV: comma separated, fields optionally in double quotes, "" for a quote inside quotes, quoted
/// fields may span lines, CRLF or LF, optional UTF-8 BOM. The first record is the header. Short rows are
/// padded with empty strings (CheXpert leaves trailing label cells blank); rows with MORE fields than the
/// header are an error, as is an unterminated quote. Blank lines are skipped.
/// </summary>
public sealed class CsvTable
{
    readonly Dictionary<string, int> _columns;

    CsvTable(string file, string[] header, List<(int Line, string[] Fields)> rows)
    {
        File = file; Header = header; Rows = rows;
        _columns = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < header.Length; i++)
            if (!_columns.TryAdd(header[i], i)) throw new CsvFormatException(file, 1, $"duplicate column '{header[i]}'");
    }

    public string File { get; }
    public string[] Header { get; }
    /// <summary>Data rows with the 1-based line on which each starts.</summary>
    public IReadOnlyList<(int Line, string[] Fields)> Rows { get; }

    public bool Has(string column) => _columns.ContainsKey(column);

    public int Column(string name) => _columns.TryGetValue(name, out int i) ? i
        : throw new CsvFormatException(File, 1, $"missing column '{name}' (have: {string.Join(", ", Header)})");

    public static CsvTable Load(string path)
    {
        string text;
        try { text = System.IO.File.ReadAllText(path, Encoding.UTF8); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CsvFormatException(path, 0, $"cannot read: {e.Message}");
        }
        return Parse(text, path);
    }

    public static CsvTable Parse(string text, string file)
    {
        var records = new List<(int, string[])>();
        var fields = new List<string>();
        var cell = new StringBuilder();
        int line = 1, recordLine = 1, i = 0;
        bool inQuotes = false, cellWasQuoted = false, any = false;
        if (text.Length > 0 && text[0] == '\uFEFF') i = 1;

        void EndCell() { fields.Add(cellWasQuoted ? cell.ToString() : cell.ToString().Trim()); cell.Clear(); cellWasQuoted = false; }
        void EndRecord()
        {
            EndCell();
            if (!(fields.Count == 1 && fields[0].Length == 0 && !any)) records.Add((recordLine, fields.ToArray()));
            fields.Clear(); any = false;
        }

        for (; i < text.Length; i++)
        {
            char ch = text[i];
            if (inQuotes)
            {
                if (ch == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"') { cell.Append('"'); i++; }
                    else inQuotes = false;
                }
                else { if (ch == '\n') line++; cell.Append(ch); }
                continue;
            }
            switch (ch)
            {
                case '"':
                    if (cell.ToString().Trim().Length > 0 || cellWasQuoted)
                        throw new CsvFormatException(file, line, "quote inside an unquoted field (quote the whole field and double inner quotes)");
                    cell.Clear(); inQuotes = true; cellWasQuoted = true; any = true;
                    break;
                case ',': EndCell(); any = true; break;
                case '\r': break;
                case '\n': EndRecord(); line++; recordLine = line; break;
                default:
                    if (cellWasQuoted)
                    {
                        // spaces after a closing quote are padding, not content
                        if (!char.IsWhiteSpace(ch)) throw new CsvFormatException(file, line, "text after a closing quote");
                        break;
                    }
                    cell.Append(ch); if (!char.IsWhiteSpace(ch)) any = true;
                    break;
            }
        }
        if (inQuotes) throw new CsvFormatException(file, recordLine, "unterminated quoted field");
        EndRecord();

        if (records.Count == 0) throw new CsvFormatException(file, 0, "empty file (no header)");
        var header = records[0].Item2;
        var rows = new List<(int, string[])>(records.Count - 1);
        foreach (var (ln, f) in records.Skip(1))
        {
            if (f.Length > header.Length) throw new CsvFormatException(file, ln, $"{f.Length} fields, header has {header.Length}");
            rows.Add((ln, f.Length == header.Length ? f : [.. f, .. Enumerable.Repeat("", header.Length - f.Length)]));
        }
        return new CsvTable(file, header, rows);
    }
}
