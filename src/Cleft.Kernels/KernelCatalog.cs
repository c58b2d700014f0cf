using System.Reflection;

namespace Cleft.Kernels;

public enum KernelGrouping
{
    /// <summary>ILGPU chooses the group size; the first parameter is an Index1D/2D/3D.</summary>
    Implicit,
    /// <summary>The kernel manages groups and shared memory itself (tiling, group reductions).</summary>
    Explicit,
}

/// <summary>
/// Marks a static method as an ILGPU kernel. Every marked method is picked up by <see cref="KernelCatalog"/>,
/// which `cleft ptx`, the PTX/ptxas tests and the cross-backend tests all enumerate: a new kernel cannot be
/// left out of any of them.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class KernelAttribute(string name, KernelGrouping grouping) : Attribute
{
    public string Name { get; } = name;
    public KernelGrouping Grouping { get; } = grouping;
}

public sealed record KernelInfo(string Name, KernelGrouping Grouping, MethodInfo Method)
{
    public override string ToString() => Name;
}

/// <summary>The one list of ILGPU kernels in the project, discovered from <see cref="KernelAttribute"/>.</summary>
public static class KernelCatalog
{
    static readonly Lazy<IReadOnlyList<KernelInfo>> _all = new(Discover);

    public static IReadOnlyList<KernelInfo> All => _all.Value;

    public static KernelInfo Get(string name) =>
        All.FirstOrDefault(k => k.Name == name)
        ?? throw new KeyNotFoundException($"no ILGPU kernel named '{name}' in the catalogue");

    static IReadOnlyList<KernelInfo> Discover()
    {
        var list = new List<KernelInfo>();
        foreach (var type in typeof(KernelCatalog).Assembly.GetTypes())
            foreach (var m in type.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic))
                if (m.GetCustomAttribute<KernelAttribute>() is { } attr)
                    list.Add(new KernelInfo(attr.Name, attr.Grouping, m));
        var dup = list.GroupBy(k => k.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new InvalidOperationException($"two ILGPU kernels are named '{dup.Key}'");
        return list.OrderBy(k => k.Name, StringComparer.Ordinal).ToList();
    }
}
