using Cleft.Train.Data;

namespace Cleft.Tests.Data;

public sealed class CsvTests
{
    [Fact]
    public void QuotesNewlinesBomAndShortRows()
    {
        string text = "\uFEFFa,\"b, with comma\",c\r\n1,\"say \"\"hi\"\"\",3\r\n\r\n\"multi\nline\", x ,\n4\n";
        var t = CsvTable.Parse(text, "t.csv");
        Assert.Equal(["a", "b, with comma", "c"], t.Header);
        Assert.Equal(3, t.Rows.Count);
        Assert.Equal(["1", "say \"hi\"", "3"], t.Rows[0].Fields);
        Assert.Equal(2, t.Rows[0].Line);
        Assert.Equal(["multi\nline", "x", ""], t.Rows[1].Fields);   // unquoted cells trimmed, blank last cell
        Assert.Equal(4, t.Rows[1].Line);
        Assert.Equal(["4", "", ""], t.Rows[2].Fields);              // short row padded
        Assert.Equal(6, t.Rows[2].Line);
        Assert.Equal(1, t.Column("b, with comma"));
        Assert.Equal(["x", " padded "], CsvTable.Parse("a,b\n\"x\"  , \" padded \" \n", "p.csv").Rows[0].Fields);
    }

    [Theory]
    [InlineData("a,b\n1,2,3\n", 2, "3 fields")]
    [InlineData("a,b\n1,\"2\n", 2, "unterminated")]
    [InlineData("a,b\n1,x\"y\"\n", 2, "quote inside")]
    [InlineData("a,a\n1,2\n", 1, "duplicate column")]
    [InlineData("a,b\n1,\"2\"z\n", 2, "after a closing quote")]
    public void MalformedInputNamesFileAndLine(string text, int line, string reason)
    {
        var e = Assert.Throws<CsvFormatException>(() => CsvTable.Parse(text, "bad.csv"));
        Assert.Equal(line, e.Line);
        Assert.StartsWith($"bad.csv:{line}:", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void MissingColumnAndMissingFile()
    {
        var t = CsvTable.Parse("x,y\n1,2\n", "m.csv");
        Assert.Contains("missing column 'Path'", Assert.Throws<CsvFormatException>(() => t.Column("Path")).Message);
        Assert.Throws<CsvFormatException>(() => CsvTable.Parse("", "e.csv"));
        var missing = Path.Combine(Path.GetTempPath(), "no-such-dir-cleft", "m.csv");
        Assert.Contains("no-such-dir-cleft", Assert.Throws<CsvFormatException>(() => CsvTable.Load(missing)).Message);
    }
}
