package nomadmirage.nomad;

import java.util.LinkedHashMap;
import java.util.Map;
import nomadmirage.proto.hclspec.Spec;

/** The hclspec of a job's {@code config {}} block for {@code driver = "mirage"}. */
final class TaskConfigSchema {
    private TaskConfigSchema() {
    }

    static Spec spec() {
        Map<String, Spec> fields = new LinkedHashMap<>();
        fields.put("unikernel", HclSpecs.requiredAttr("unikernel", "string"));
        fields.put("args", HclSpecs.attrWithDefault("args", "list(string)", "[]"));
        return HclSpecs.object(fields);
    }
}
