package nomadmirage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Parsing, help and usage errors of the operator commands (what each command does is tested beside it). */
class OperatorCliTest {
    private static final List<String> COMMANDS = List.of("version", "manifest", "status", "help");

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    @ParameterizedTest
    @ValueSource(strings = {"help", "--help", "-h"})
    void theUsageListsEveryCommandInOrderOnStandardOutput(String arg) {
        assertEquals(0, cli(arg));
        String usage = text(out);
        assertTrue(usage.startsWith("Usage: nomad-driver-mirage [-h] [--version] COMMAND\n"), usage);
        int previous = usage.indexOf("\nCommands:\n");
        assertTrue(previous > 0, usage);
        for (String command : COMMANDS) {
            int at = usage.indexOf("\n  " + command + " ", previous);
            assertTrue(at > previous, command + " missing or out of order in\n" + usage);
            previous = at;
        }
        assertEquals(OperatorCli.usage(), usage);
        assertEquals("", text(err));
    }

    @ParameterizedTest
    @CsvSource({"version,-h", "version,--help", "manifest,-h", "manifest,--help", "status,-h", "status,--help",
        "help,-h", "help,--help"})
    void everyCommandShowsItsHelpOnStandardOutput(String command, String option) {
        assertEquals(0, cli(command, option));
        assertTrue(text(out).contains("Usage: nomad-driver-mirage " + command + " [-h]"), text(out));
        assertEquals("", text(err));
    }

    @ParameterizedTest
    @ValueSource(strings = {"version", "manifest", "status"})
    void helpCommandShowsTheSameHelpAsTheOption(String command) {
        assertEquals(0, cli("help", command));
        String viaHelp = text(out);
        out.reset();
        assertEquals(0, cli(command, "--help"));
        assertEquals(text(out), viaHelp);
    }

    @ParameterizedTest
    @ValueSource(strings = {"version", "--version"})
    void printsTheVersion(String arg) {
        assertEquals(0, cli(arg));
        assertEquals("nomad-driver-mirage " + BuildInfo.version() + "\n", text(out));
        assertEquals("", text(err));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "frobnicate           | nomad-driver-mirage: Unknown command: 'frobnicate' | nomad-driver-mirage [-h]",
        "--frobnicate         | nomad-driver-mirage: Unknown option: '--frobnicate' | nomad-driver-mirage [-h]",
        "status --frobnicate  | nomad-driver-mirage status: Unknown option: '--frobnicate' | nomad-driver-mirage status [-h]",
        "status --bridge      | nomad-driver-mirage status: Missing required parameter for option '--bridge' (NAME)"
                + " | nomad-driver-mirage status [-h]",
        "status extra         | nomad-driver-mirage status: Unmatched argument at index 1: 'extra' | nomad-driver-mirage status [-h]",
        "version extra        | nomad-driver-mirage version: Unmatched argument at index 1: 'extra' | nomad-driver-mirage version [-h]",
        "manifest             | nomad-driver-mirage manifest: Missing required parameter: 'FILE' | nomad-driver-mirage manifest [-h]",
        "help frobnicate      | nomad-driver-mirage: Unknown subcommand 'frobnicate'. | nomad-driver-mirage [-h]",
        "--                   | nomad-driver-mirage: Missing command | nomad-driver-mirage [-h]"})
    void usageErrorsNameTheProblemOnOneLineThenShowTheUsageWithStatus2(String args, String problem, String usage) {
        assertEquals(2, cli(args.split(" ")));
        assertEquals("", text(out));
        String[] lines = text(err).split("\n");
        assertEquals(problem, lines[0]);
        assertTrue(text(err).contains("\nUsage: " + usage), text(err));
    }

    @Test
    void aTypoGetsASuggestion() {
        assertEquals(2, cli("stauts"));
        assertTrue(text(err).contains("Did you mean: nomad-driver-mirage status"), text(err));
    }

    @Test
    void runWithoutNomadSaysItIsAPluginAndListsTheOperatorCommands() throws Exception {
        PrintStream stream = new PrintStream(err, true, StandardCharsets.UTF_8);

        assertEquals(1, Main.servePlugin(Map.of(), stream));

        String message = text(err);
        assertTrue(message.startsWith("This binary is a plugin for HashiCorp Nomad"), message);
        assertTrue(message.contains("not meant to be run directly"), message);
        assertTrue(message.contains("NOMAD_PLUGIN_MAGIC_COOKIE"), message);
        assertTrue(message.endsWith("\n\n" + OperatorCli.usage()), message);
    }

    @Test
    void aWrongProtocolVersionIsNotAboutOperatorCommands() throws Exception {
        PrintStream stream = new PrintStream(err, true, StandardCharsets.UTF_8);
        Map<String, String> env = Map.of(Main.NOMAD_HANDSHAKE.cookieKey(), Main.NOMAD_HANDSHAKE.cookieValue(),
                "PLUGIN_PROTOCOL_VERSIONS", "1");

        assertEquals(1, Main.servePlugin(env, stream));

        assertTrue(text(err).contains("protocol version"), text(err));
        assertFalse(text(err).contains("Usage:"), text(err));
    }

    private int cli(String... args) {
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            return OperatorCli.run(args, o, e);
        }
    }

    private static String text(ByteArrayOutputStream stream) {
        return stream.toString(StandardCharsets.UTF_8);
    }
}
