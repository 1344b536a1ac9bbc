/**
 * Parameters of a network as MindSpore defines them: {@link io.tessera.layout.param.Parameter} (data, name and the
 * flags parallel training reads, with {@code initData} materialising one rank's slice exactly),
 * {@link io.tessera.layout.param.ParameterTuple}, the {@link io.tessera.layout.param.ParamLayout} argument of
 * {@code initData}, and the process-wide {@link io.tessera.layout.param.ParallelContext}.
 */
package io.tessera.layout.param;
