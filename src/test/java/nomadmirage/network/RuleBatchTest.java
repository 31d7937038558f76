package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class RuleBatchTest {
    @Test
    void linesKeepTheirOrderPerTable() {
        RuleBatch batch = new RuleBatch().add("nat", "-D NOMAD_MG_PRE -j A").add("filter", "-A NOMAD_MG_FWD -j B")
                .add("nat", "-A NOMAD_MG_PRE -j C");
        assertEquals("*nat\n-D NOMAD_MG_PRE -j A\n-A NOMAD_MG_PRE -j C\nCOMMIT\n*filter\n-A NOMAD_MG_FWD -j B\nCOMMIT\n",
                batch.render());
    }

    @Test
    void aRepeatedAppendIsKeptOnceButEveryDeletionStays() {
        RuleBatch batch = new RuleBatch()
                .add("nat", "-A NOMAD_MG_PRE -j RETURN").add("nat", "-A NOMAD_MG_PRE -j RETURN")
                .add("nat", "-D NOMAD_MG_OUT -j RETURN").add("nat", "-D NOMAD_MG_OUT -j RETURN")
                .add("filter", "-A NOMAD_MG_PRE -j RETURN");
        assertEquals("*nat\n-A NOMAD_MG_PRE -j RETURN\n-D NOMAD_MG_OUT -j RETURN\n-D NOMAD_MG_OUT -j RETURN\nCOMMIT\n"
                + "*filter\n-A NOMAD_MG_PRE -j RETURN\nCOMMIT\n", batch.render(),
                "a rule listed twice is deleted twice; the same line in another table is another rule");
    }
}
