// Shim source (see registry/pom.xml): declares this type as the Apicurio Registry 3.0.9 app jar uses it.
package io.apicurio.common.apps.config;

/**
 * Shim: apicurio-registry-config-definitions 3.0.9 is not on Maven Central (3.0.6 is); 3.0.9 added this
 * enum and changed {@link Info#category()} to it. Constants are those that the 3.0.9 app refers to.
 */
public enum ConfigPropertyCategory {
    CATEGORY_API("api"),
    CATEGORY_AUTH("auth"),
    CATEGORY_CACHE("cache"),
    CATEGORY_CCOMPAT("ccompat"),
    CATEGORY_DOWNLOAD("download"),
    CATEGORY_GITOPS("gitops"),
    CATEGORY_HEALTH("health"),
    CATEGORY_HIDDEN("hidden"),
    CATEGORY_IMPORT("import"),
    CATEGORY_LIMITS("limits"),
    CATEGORY_REDIRECTS("redirects"),
    CATEGORY_REST("rest"),
    CATEGORY_SEMVER("semver"),
    CATEGORY_STORAGE("storage"),
    CATEGORY_SYSTEM("system"),
    CATEGORY_UI("ui");

    private final String value;

    ConfigPropertyCategory(String value) {
        this.value = value;
    }

    public String getRawValue() {
        return value;
    }
}
