package io.tessera.architecture;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.redistribution.Redistribution;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.belongToAnyOf;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The architecture the build enforces: no package depends on itself through others (no cycles), modules depend only
 * downwards (layout, then planner, then simulator with the CLI and the benchmarks), and redistributions are planned
 * by the planner's one service (the layout module's own tools, the {@code layout} command and the benchmarks aside).
 * Each rule is also shown failing on deliberate fixtures in test code, so a rule that silently checks nothing is
 * caught.
 */
class ArchitectureTest {

    private static JavaClasses main;

    /** Every package is its own slice: a cycle between any two packages fails. */
    private static final ArchRule NO_PACKAGE_CYCLES = slices().matching("io.tessera.(**)").should().beFreeOfCycles();

    /** layout knows nothing above it; the planner nothing of the simulator, CLI or benchmarks. */
    private static final ArchRule LAYOUT_IS_THE_BOTTOM = noClasses().that().resideInAPackage("io.tessera.layout..")
            .should().dependOnClassesThat().resideInAnyPackage("io.tessera.planner..", "io.tessera.simulator..",
                    "io.tessera.cli..", "io.tessera.bench..");
    private static final ArchRule PLANNER_IS_BELOW_THE_SIMULATOR = noClasses().that()
            .resideInAPackage("io.tessera.planner..").should().dependOnClassesThat()
            .resideInAnyPackage("io.tessera.simulator..", "io.tessera.cli..", "io.tessera.bench..");
    /** The simulator's engines do not reach up into the CLI or the benchmarks. */
    private static final ArchRule SIMULATOR_IS_BELOW_THE_CLI = noClasses().that()
            .resideInAPackage("io.tessera.simulator..").should().dependOnClassesThat()
            .resideInAnyPackage("io.tessera.cli..", "io.tessera.bench..");

    /** Only the planner's redistribution service (and layout's own tools) plan redistributions. */
    private static final ArchRule ONE_REDISTRIBUTION_PLANNER = noClasses()
            .that(not(resideInAnyPackage("io.tessera.layout..", "io.tessera.bench..")
                    .or(belongToAnyOf(io.tessera.planner.plan.RedistributionCache.class,
                            io.tessera.cli.RedistributeCommand.class))))
            .should().callMethod(Redistribution.class, "plan", Layout.class, Layout.class, DType.class)
            .because("the planner chooses every redistribution once (RedistributionCache) and the plan carries it");

    @BeforeAll
    static void importMainClasses() {
        main = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("io.tessera");
        // a scan that found nothing would pass every rule: make sure the three modules are there
        assertTrue(main.stream().anyMatch(c -> c.getPackageName().startsWith("io.tessera.layout"))
                && main.stream().anyMatch(c -> c.getPackageName().startsWith("io.tessera.planner"))
                && main.stream().anyMatch(c -> c.getPackageName().startsWith("io.tessera.simulator")),
                "the class scan must see all three modules");
        assertTrue(main.stream().noneMatch(c -> c.getPackageName().contains("archfixture")),
                "test fixtures must not be scanned as main code");
    }

    @Test
    void noPackageCycles() {
        NO_PACKAGE_CYCLES.check(main);
    }

    @Test
    void modulesDependOnlyDownwards() {
        LAYOUT_IS_THE_BOTTOM.check(main);
        PLANNER_IS_BELOW_THE_SIMULATOR.check(main);
        SIMULATOR_IS_BELOW_THE_CLI.check(main);
    }

    @Test
    void redistributionsArePlannedByThePlannerOnly() {
        ONE_REDISTRIBUTION_PLANNER.check(main);
    }

    @Test
    void theCycleRuleRejectsADeliberateCycle() {
        JavaClasses fixture = new ClassFileImporter().importPackages("io.tessera.archfixture");
        assertTrue(fixture.size() >= 2, "the fixture classes were not found");
        AssertionError e = assertThrows(AssertionError.class, () -> NO_PACKAGE_CYCLES.check(fixture));
        assertTrue(e.getMessage().contains("Cycle") && e.getMessage().contains("archfixture.cycle"), e.getMessage());
    }

    @Test
    void theModuleRuleRejectsADeliberateBackEdge() {
        JavaClasses fixture = new ClassFileImporter().importPackages("io.tessera.layout.archfixture");
        assertTrue(fixture.size() >= 1, "the fixture class was not found");
        AssertionError e = assertThrows(AssertionError.class, () -> LAYOUT_IS_THE_BOTTOM.check(fixture));
        assertTrue(e.getMessage().contains("BackEdge") && e.getMessage().contains("io.tessera.planner.op.MatMul"),
                e.getMessage());
    }
}
