using Cleft.Train.Data;

namespace Cleft.Tests.Data;

public sealed class ManifestTests
{
    static readonly string Header = "Path,AP/PA," + string.Join(',', ChexpertManifest.Findings);

    static string Row(string path, params (string Finding, string Value)[] cells) =>
        path + ",PA," + string.Join(',', ChexpertManifest.Findings.Select(f => cells.FirstOrDefault(c => c.Finding == f).Value ?? ""));

    [Fact]
    public void ChexpertCaptionsAndFiveClassOrder()
    {
        using var dir = new TempDir();
        string csv = dir.Write("train.csv", string.Join('\n',
            Header,
            Row("p/a.jpg", ("Pleural Effusion", "1.0"), ("Cardiomegaly", "1"), ("Consolidation", "0.0")),
            Row("p/b.jpg", ("Consolidation", "1"), ("Edema", "-1.0")),
            Row("p/c.jpg", ("No Finding", "1.0")),
            Row("p/d.jpg", ("Edema", "1"), ("Atelectasis", "1"), ("Support Devices", "1"))));
        var m = ChexpertManifest.Load(csv);
        Assert.Equal(ChexpertManifest.FiveClasses, m.ClassNames);
        Assert.Equal("this is a chest x ray of a patient with cardiomegaly, pleural effusion", m.Entries[0].Caption);
        Assert.Equal(2, m.Entries[0].Label);   // Cardiomegaly precedes Pleural Effusion in the 5x200 order
        Assert.Equal("this is a chest x ray of a patient with consolidation", m.Entries[1].Caption); // -1 counts as negative
        Assert.Equal(4, m.Entries[1].Label);
        Assert.Equal("this is a chest x ray of a patient with no finding", m.Entries[2].Caption);
        Assert.Equal(-1, m.Entries[2].Label);
        Assert.Equal(0, m.Entries[3].Label);   // Atelectasis first
        Assert.Equal("this is a chest x ray of a patient with edema, atelectasis, support devices", m.Entries[3].Caption);
        Assert.Equal(Path.Combine(dir.Path, "p", "a.jpg"), m.Entries[0].ImagePath);
        Assert.Equal(3, m.Labelled().Count);

        var u1 = ChexpertManifest.Load(csv, uncertain: UncertainPolicy.AsPositive);
        Assert.Equal(1, u1.Entries[1].Label); // Edema (uncertain) now positive and precedes Consolidation
        Assert.Equal("this is a chest x ray of a patient with edema, consolidation", u1.Entries[1].Caption);
    }

    [Fact]
    public void ChexpertBadCellNamesFileAndLine()
    {
        using var dir = new TempDir();
        string csv = dir.Write("bad.csv", Header + "\n" + Row("a.jpg", ("Edema", "1")) + "\n" + Row("b.jpg", ("Edema", "yes")) + "\n");
        var e = Assert.Throws<CsvFormatException>(() => ChexpertManifest.Load(csv));
        Assert.Equal(3, e.Line);
        Assert.Contains("bad.csv:3", e.Message);
        Assert.Contains("'Edema'", e.Message);
        string csv2 = dir.Write("two.csv", Header + "\n" + Row("b.jpg", ("Edema", "2")));
        Assert.Contains("expected 1, 0, -1 or blank", Assert.Throws<CsvFormatException>(() => ChexpertManifest.Load(csv2)).Message);
    }

    [Fact]
    public void ZeroShotPrompts()
    {
        Assert.Equal([
            "this is a chest x ray of a patient with atelectasis", "this is a chest x ray of a patient with edema",
            "this is a chest x ray of a patient with cardiomegaly", "this is a chest x ray of a patient with pleural effusion",
            "this is a chest x ray of a patient with consolidation"], Cleft.Train.Data.ZeroShotPrompts.Chexpert5x200());
        Assert.Equal(["this is a chest x ray of a patient with no findings", "this is a chest x ray of a patient with pneumonia"],
            Cleft.Train.Data.ZeroShotPrompts.Rsna());
        Assert.Equal(7, Cleft.Train.Data.ZeroShotPrompts.Embed(EmbedTask.Birads).Length);
        Assert.Equal(4, Cleft.Train.Data.ZeroShotPrompts.Embed(EmbedTask.Density).Length);
    }

    [Fact]
    public void RsnaMergesBoxRowsAndRejectsConflicts()
    {
        using var dir = new TempDir();
        string csv = dir.Write("rsna.csv", "patientId,x,y,width,height,Target\nA,,,,,0\nB,1,2,3,4,1\nB,5,6,7,8,1\nC,,,,,0\n");
        var m = RsnaManifest.Load(csv, imageRoot: "/img");
        Assert.Equal(3, m.Count);
        Assert.Equal([0, 1, 0], m.Labels());
        Assert.Equal(Path.GetFullPath("/img/B.png"), m.Entries[1].ImagePath);
        Assert.EndsWith("with pneumonia", m.Entries[1].Caption);
        string bad = dir.Write("rsna2.csv", "patientId,Target\nA,0\nA,1\n");
        Assert.Contains("rsna2.csv:3", Assert.Throws<CsvFormatException>(() => RsnaManifest.Load(bad)).Message);
    }

    [Fact]
    public void EmbedCaptionTemplate()
    {
        using var dir = new TempDir();
        string csv = dir.Write("embed.csv", "path,side,view,density,birads\nm/1.png,L,CC,2,1\nm/2.png,bilateral,MLO,4.0,5\n");
        var m = EmbedManifest.Load(csv, EmbedTask.Density);
        Assert.Equal("This is a breast 2D full-field digital mammogram of a patient on side left with view CC with breast tissue density " +
                     "2:scattered areas of fibroglandular density. with BIRADS score 1:negative.", m.Entries[0].Caption);
        Assert.Equal([1, 3], m.Labels());
        Assert.Equal([1, 5], EmbedManifest.Load(csv, EmbedTask.Birads).Labels());
        string bad = dir.Write("e2.csv", "path,side,view,density,birads\nm/1.png,X,CC,2,1\n");
        Assert.Contains("e2.csv:2", Assert.Throws<CsvFormatException>(() => EmbedManifest.Load(bad, EmbedTask.Birads)).Message);
    }
}
