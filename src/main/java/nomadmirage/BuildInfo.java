package nomadmirage;

/** The plugin's own version, from the jar manifest written by the build. */
public final class BuildInfo {
    private BuildInfo() {
    }

    public static String version() {
        String version = BuildInfo.class.getPackage().getImplementationVersion();
        return version == null ? "0.0.0-dev" : version;
    }
}
