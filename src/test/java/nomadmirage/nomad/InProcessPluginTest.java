package nomadmirage.nomad;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/** Tests over a fresh {@link InProcessPlugin} node each: started before every test, closed after it. */
abstract class InProcessPluginTest {
    @TempDir
    Path tmp;
    InProcessPlugin p;

    @BeforeEach
    void startNode() {
        p = new InProcessPlugin(tmp);
    }

    @AfterEach
    void closeNode() throws Exception {
        p.close();
    }
}
