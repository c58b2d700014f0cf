namespace Cleft.Tests.Data;

/// <summary>A fresh folder under the system temp directory, deleted on dispose.</summary>
sealed class TempDir : IDisposable
{
    public TempDir() { Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "cleft-data-" + Guid.NewGuid().ToString("N")); Directory.CreateDirectory(Path); }
    public string Path { get; }
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public string Write(string name, string text) { var p = File(name); System.IO.File.WriteAllText(p, text); return p; }
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}
