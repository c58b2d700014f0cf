using System.Linq.Expressions;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Loads a catalogue kernel as the launcher type its cache slot declares, so a kernel's parameter types are
/// written once (on the slot) and never repeated at the launch site. An explicitly grouped kernel's launcher leads
/// with <see cref="KernelConfig"/> (ILGPU's LoadStreamKernel); an implicitly grouped one's with its index type
/// (LoadAutoGroupedStreamKernel). Runs once per kernel and backend, so reflection costs nothing per launch.
/// </summary>
static class KernelLoad
{
    public static T Stream<T>(Accelerator acc, KernelInfo kernel) where T : Delegate
    {
        var launcher = typeof(T).GetGenericArguments();
        bool isAction = typeof(T).Name.StartsWith("Action`", StringComparison.Ordinal);
        bool explicitGroups = kernel.Grouping == KernelGrouping.Explicit;
        if (!isAction || launcher.Length == 0 || explicitGroups != (launcher[0] == typeof(KernelConfig)))
            throw new InvalidOperationException(
                $"kernel '{kernel.Name}' ({Describe(kernel.Method)}, {kernel.Grouping} grouping): launcher slot type {typeof(T)} must be an " +
                (explicitGroups ? "Action<KernelConfig, ...> of the kernel's parameters" : "Action<index, ...> matching the kernel's parameters"));
        var parameters = explicitGroups ? launcher[1..] : launcher;
        Delegate body;
        try { body = kernel.Method.CreateDelegate(Expression.GetActionType(parameters)); }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException(
                $"kernel '{kernel.Name}' ({Describe(kernel.Method)}) does not take the parameters its launcher slot declares: " +
                $"({string.Join(", ", parameters.Select(p => p.Name))})", e);
        }
        var load = (explicitGroups ? StreamLoaders : AutoGroupedLoaders)[parameters.Length];
        return (T)load.MakeGenericMethod(parameters).Invoke(null, [acc, body])!;
    }

    static string Describe(MethodInfo m) => $"{m.DeclaringType?.Name}.{m.Name}";

    // KernelLoaders.LoadStreamKernel<T1..Tn>(Accelerator, Action<T1..Tn>) and its auto-grouped twin, by arity.
    static readonly Dictionary<int, MethodInfo> StreamLoaders = Loaders(nameof(KernelLoaders.LoadStreamKernel));
    static readonly Dictionary<int, MethodInfo> AutoGroupedLoaders = Loaders(nameof(KernelLoaders.LoadAutoGroupedStreamKernel));

    static Dictionary<int, MethodInfo> Loaders(string name) =>
        typeof(KernelLoaders).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.Name == name && m.IsGenericMethodDefinition && m.GetParameters().Length == 2)
            .ToDictionary(m => m.GetGenericArguments().Length);
}
