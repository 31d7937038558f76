package nomadmirage.nomad;

import java.util.LinkedHashMap;
import java.util.Map;
import nomadmirage.proto.hclspec.Attr;
import nomadmirage.proto.hclspec.BlockList;
import nomadmirage.proto.hclspec.Default;
import nomadmirage.proto.hclspec.Literal;
import nomadmirage.proto.hclspec.Spec;

/** Small builders for Nomad's hclspec protos, so schemas read like the HCL they accept. */
final class HclSpecs {
    private HclSpecs() {
    }

    static Spec attr(String name, String type) {
        return Spec.newBuilder().setAttr(Attr.newBuilder().setName(name).setType(type)).build();
    }

    static Spec requiredAttr(String name, String type) {
        return Spec.newBuilder().setAttr(Attr.newBuilder().setName(name).setType(type).setRequired(true)).build();
    }

    /** An attribute that takes {@code hclLiteral} (an HCL expression, strings quoted) when absent. */
    static Spec attrWithDefault(String name, String type, String hclLiteral) {
        return Spec.newBuilder().setDefault(Default.newBuilder()
                .setPrimary(attr(name, type))
                .setDefault(Spec.newBuilder().setLiteral(Literal.newBuilder().setValue(hclLiteral))))
                .build();
    }

    static Spec blockList(String name, Spec nested) {
        return Spec.newBuilder().setBlockList(BlockList.newBuilder().setName(name).setNested(nested)).build();
    }

    static Spec object(Map<String, Spec> attributes) {
        return Spec.newBuilder().setObject(nomadmirage.proto.hclspec.Object.newBuilder()
                .putAllAttributes(new LinkedHashMap<>(attributes))).build();
    }

    /** Quotes a Java string as an HCL string literal. */
    static String quoted(String value) {
        return "\"" + value.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
