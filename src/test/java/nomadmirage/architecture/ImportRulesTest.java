package nomadmirage.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The package map's rules, checked on the compiled classes: the pure packages stay free of side
 * effects, go-plugin's host contract knows nothing of Nomad, and the gRPC adapters reach the
 * lifecycle only through the driver.
 */
class ImportRulesTest {
    private static JavaClasses classes;

    @BeforeAll
    static void importMainClasses() {
        classes = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("nomadmirage");
    }

    /** Reading ELF notes, building a tender's argv and parsing config only compute: no processes, no host state. */
    @Test
    void pureCoreHasNoSideEffects() {
        ArchRule rule = noClasses().that().resideInAnyPackage("nomadmirage.solo5..", "nomadmirage.tender..",
                        "nomadmirage.config..")
                .should().dependOnClassesThat().resideInAnyPackage("nomadmirage.proc..", "nomadmirage.network..",
                        "nomadmirage.driver..", "nomadmirage.state..", "nomadmirage.nomad..", "nomadmirage.goplugin..")
                .orShould().dependOnClassesThat().haveFullyQualifiedName("java.lang.ProcessBuilder")
                .orShould().dependOnClassesThat().haveFullyQualifiedName("java.lang.Runtime")
                .because("solo5, tender and config are pure: they read input and compute, nothing else");
        rule.check(classes);
    }

    @Test
    void goPluginKnowsNothingOfNomad() {
        noClasses().that().resideInAPackage("nomadmirage.goplugin..")
                .should().dependOnClassesThat().resideInAnyPackage("nomadmirage.nomad..", "nomadmirage.driver..",
                        "nomadmirage.proto.drivers..", "nomadmirage.proto.base..", "nomadmirage.config..")
                .because("goplugin is HashiCorp's go-plugin host contract, shared by any plugin")
                .check(classes);
    }

    @Test
    void grpcAdaptersReachTheLifecycleOnlyThroughTheDriver() {
        noClasses().that().resideInAPackage("nomadmirage.nomad..")
                .should().dependOnClassesThat().resideInAnyPackage("nomadmirage.proc..", "nomadmirage.state..",
                        "nomadmirage.tender..", "nomadmirage.solo5..")
                .orShould().dependOnClassesThat().haveFullyQualifiedName("nomadmirage.network.NetworkManager")
                .because("nomad/ decodes, calls the driver and maps; host effects are the driver's business")
                .check(classes);
    }

    @Test
    void theLowerLayersNeverCallUp() {
        noClasses().that().resideInAnyPackage("nomadmirage.proc..", "nomadmirage.network..", "nomadmirage.state..",
                        "nomadmirage.log..")
                .should().dependOnClassesThat().resideInAnyPackage("nomadmirage.driver..", "nomadmirage.nomad..",
                        "nomadmirage.goplugin..", "nomadmirage.status..")
                .check(classes);
    }
}
