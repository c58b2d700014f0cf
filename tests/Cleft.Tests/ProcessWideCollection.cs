namespace Cleft.Tests;

/// <summary>
/// Tests that read process-wide counters (GC collection counts, CpuWork's flops) run alone: tests running beside
/// them would add to the counts.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideCollection { public const string Name = "process-wide-counters"; }
