/**
 * The operator catalogue: one record per operator implementing the sealed {@link io.tessera.planner.op.Operator},
 * each record file being the operator's room (shape rule, sharding rule, gradient rule, JSON attributes, FLOPs and
 * memory traffic), the registry {@link io.tessera.planner.op.OperatorKind} (type names and decoders), and the shared
 * sharding machinery ({@link io.tessera.planner.op.Sharding}, {@link io.tessera.planner.op.OpSharding},
 * {@link io.tessera.planner.op.Strategy}, {@link io.tessera.planner.op.TensorType}).
 *
 * <p><b>To add an operator</b> {@code Op}:
 * <ol>
 *   <li>write the record {@code op/Op.java} and add it to {@code Operator}'s {@code permits}; the compiler then asks
 *       for every method of the contract: {@code type}, {@code operatorKind}, {@code inputCount}, {@code outputs},
 *       {@code dataParallel}, {@code shard} (the sharding rule), {@code differentiableInput},
 *       {@code differentiableOutput}, {@code gradientReads} (the gradient rule, with
 *       {@link io.tessera.planner.op.TensorRef} positions), {@code encodeAttrs} (JSON), {@code forwardFlops},
 *       {@code forwardBytes} (usually {@link io.tessera.planner.op.Flops#streamedBytes}) and {@code accept};</li>
 *   <li>add its {@link io.tessera.planner.op.OperatorKind} constant: record class, MindSpore type names, attribute
 *       names in {@code encodeAttrs}'s order, decoder from {@link io.tessera.planner.op.OpAttrs} (also add the type
 *       and its attributes to {@code schemas/network.schema.json});</li>
 *   <li>add {@code R visit(Op op)} to {@link io.tessera.planner.op.Operator.Visitor}; the simulator's
 *       {@code Kernels} then does not compile until it calls the new {@code simulator/.../kernel/OpKernel.java}
 *       ({@code forward} and {@code backward} on local slices, see {@code KernelContext});</li>
 *   <li>add its samples to the simulator's {@code OperatorSamples} (each type name, main attribute variants):
 *       {@code OperatorContractTest} fails for a record without samples and checks on them the sharded simulation
 *       against one device, the backward against central differences, the JSON round trip, FLOPs and bytes;
 *       write the rule's own tests in {@code planner/src/test/.../op/OpTest.java} (see {@code OpTests}).</li>
 * </ol>
 */
package io.tessera.planner.op;
