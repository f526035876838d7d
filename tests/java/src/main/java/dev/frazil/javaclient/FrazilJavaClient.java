// Why: Spark, Trino and Flink reach Frazil through Iceberg Java's RESTCatalog. This driver lets
// the pytest suite (tests/clients/test_iceberg_java.py) run that exact client against the real
// server: it opens one RESTCatalog, reads operations as JSON lines on stdin, performs each through
// the public Catalog / SupportsNamespaces / ViewCatalog API and prints one JSON line per operation.
package dev.frazil.javaclient;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.iceberg.AppendFiles;
import org.apache.iceberg.DataFiles;
import org.apache.iceberg.FileFormat;
import org.apache.iceberg.HasTableOperations;
import org.apache.iceberg.PartitionSpec;
import org.apache.iceberg.Schema;
import org.apache.iceberg.SchemaParser;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.Table;
import org.apache.iceberg.TableMetadata;
import org.apache.iceberg.UpdateProperties;
import org.apache.iceberg.UpdateSchema;
import org.apache.iceberg.catalog.Namespace;
import org.apache.iceberg.catalog.TableCommit;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.rest.RESTCatalog;
import org.apache.iceberg.types.Types;
import org.apache.iceberg.view.SQLViewRepresentation;
import org.apache.iceberg.view.View;
import org.apache.iceberg.view.ViewBuilder;
import org.apache.iceberg.view.ViewRepresentation;

/**
 * Usage: {@code FrazilJavaClient --uri URI --credential ID:SECRET [--warehouse W] [--prop K=V]...}
 *
 * <p>Each stdin line is an operation, e.g. {@code {"op":"create_namespace","namespace":["ns"]}}.
 * Identifiers are JSON arrays: {@code ["ns","table"]} (the last element is the name). Each output
 * line is {@code {"op":..,"ok":true,"result":{..}}} or {@code
 * {"op":..,"ok":false,"error":"<exception class>","message":".."}}. An operation may name the
 * exception it expects ({@code "expect":"ForbiddenException"}); a failure nobody expected, or an
 * expected failure that did not happen, stops the run with exit status 1 (the stack trace goes to
 * stderr). Status 2 is a usage error.
 */
public final class FrazilJavaClient {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final RESTCatalog catalog;

  private FrazilJavaClient(RESTCatalog catalog) {
    this.catalog = catalog;
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> props;
    try {
      props = catalogProperties(args);
    } catch (IllegalArgumentException e) {
      System.err.println("usage: FrazilJavaClient --uri URI --credential ID:SECRET [--warehouse W] [--prop K=V]...");
      System.err.println(e.getMessage());
      System.exit(2);
      return;
    }
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    int status;
    try (RESTCatalog catalog = new RESTCatalog()) {
      ObjectNode init = JSON.createObjectNode().put("op", "initialize");
      try {
        catalog.initialize("frazil", props);
      } catch (RuntimeException e) {
        // an initialize failure (bad credential, unknown warehouse) is reported like any other
        out.println(failure(init, e));
        e.printStackTrace();
        System.exit(1);
        return;
      }
      status = new FrazilJavaClient(catalog).run(out);
    }
    System.exit(status);
  }

  /** The RESTCatalog properties: Frazil's recipe (docs/clients.md) plus any --prop overrides. */
  static Map<String, String> catalogProperties(String[] args) {
    Map<String, String> props = new HashMap<>();
    Map<String, String> extra = new HashMap<>();
    for (int i = 0; i < args.length; i += 2) {
      if (i + 1 >= args.length) {
        throw new IllegalArgumentException("missing value after " + args[i]);
      }
      String value = args[i + 1];
      switch (args[i]) {
        case "--uri" -> props.put("uri", value);
        case "--credential" -> props.put("credential", value);
        case "--warehouse" -> props.put("warehouse", value);
        case "--prop" -> {
          int eq = value.indexOf('=');
          if (eq <= 0) {
            throw new IllegalArgumentException("--prop wants K=V, got " + value);
          }
          extra.put(value.substring(0, eq), value.substring(eq + 1));
        }
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    if (!props.containsKey("uri") || !props.containsKey("credential")) {
      throw new IllegalArgumentException("--uri and --credential are required");
    }
    String uri = props.get("uri").replaceAll("/+$", "");
    props.put("uri", uri);
    props.put("oauth2-server-uri", uri + "/v1/oauth/tokens");
    props.put("scope", "catalog");
    props.put("io-impl", LocalFileIO.class.getName());
    props.putAll(extra);
    return props;
  }

  private int run(PrintStream out) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode op = JSON.readTree(line);
      String expect = op.path("expect").asText(null);
      ObjectNode head = JSON.createObjectNode().put("op", op.path("op").asText());
      try {
        JsonNode result = perform(op);
        out.println(head.put("ok", true).set("result", result));
        if (expect != null) {
          System.err.println("expected " + expect + " from " + line + ", but it succeeded");
          return 1;
        }
      } catch (RuntimeException e) {
        out.println(failure(head, e));
        if (expect == null || !(expect.equals(e.getClass().getName()) || expect.equals(e.getClass().getSimpleName()))) {
          System.err.println("unexpected failure of " + line);
          e.printStackTrace();
          return 1;
        }
      }
    }
    return 0;
  }

  private static ObjectNode failure(ObjectNode head, RuntimeException e) {
    return head.put("ok", false).put("error", e.getClass().getName()).put("message", String.valueOf(e.getMessage()));
  }

  private JsonNode perform(JsonNode op) {
    String name = op.path("op").asText();
    return switch (name) {
      case "create_namespace" -> {
        catalog.createNamespace(namespace(op.path("namespace")), strings(op.path("properties")));
        yield JSON.createObjectNode();
      }
      case "list_namespaces" -> {
        List<Namespace> found = op.has("parent") ? catalog.listNamespaces(namespace(op.get("parent"))) : catalog.listNamespaces();
        ArrayNode list = JSON.createArrayNode();
        found.forEach(ns -> list.add(levels(ns)));
        yield JSON.createObjectNode().set("namespaces", list);
      }
      case "load_namespace" -> JSON.createObjectNode().set("properties", JSON.valueToTree(catalog.loadNamespaceMetadata(namespace(op.path("namespace")))));
      case "namespace_exists" -> JSON.createObjectNode().put("exists", catalog.namespaceExists(namespace(op.path("namespace"))));
      case "set_namespace_properties" -> {
        Namespace ns = namespace(op.path("namespace"));
        boolean set = !op.path("set").isEmpty() && catalog.setProperties(ns, strings(op.path("set")));
        boolean removed = !op.path("remove").isEmpty() && catalog.removeProperties(ns, new java.util.HashSet<>(stringList(op.path("remove"))));
        yield JSON.createObjectNode().put("set", set).put("removed", removed);
      }
      case "drop_namespace" -> JSON.createObjectNode().put("dropped", catalog.dropNamespace(namespace(op.path("namespace"))));
      case "create_table" -> tableJson(createTable(op));
      case "list_tables" -> JSON.createObjectNode().set("tables", identifiers(catalog.listTables(namespace(op.path("namespace")))));
      case "table_exists" -> JSON.createObjectNode().put("exists", catalog.tableExists(ident(op.path("table"))));
      case "load_table" -> tableJson(catalog.loadTable(ident(op.path("table"))));
      case "set_table_properties" -> tableJson(setTableProperties(op));
      case "update_schema" -> tableJson(updateSchema(op));
      case "append_files" -> tableJson(appendFiles(op));
      case "multi_table_properties" -> multiTableProperties(op);
      case "rename_table" -> {
        catalog.renameTable(ident(op.path("from")), ident(op.path("to")));
        yield JSON.createObjectNode();
      }
      case "drop_table" -> JSON.createObjectNode().put("dropped", catalog.dropTable(ident(op.path("table")), op.path("purge").asBoolean(false)));
      case "create_view" -> viewJson(createView(op));
      case "replace_view" -> viewJson(replaceView(op));
      case "load_view" -> viewJson(catalog.loadView(ident(op.path("view"))));
      case "view_exists" -> JSON.createObjectNode().put("exists", catalog.viewExists(ident(op.path("view"))));
      case "list_views" -> JSON.createObjectNode().set("views", identifiers(catalog.listViews(namespace(op.path("namespace")))));
      case "rename_view" -> {
        catalog.renameView(ident(op.path("from")), ident(op.path("to")));
        yield JSON.createObjectNode();
      }
      case "drop_view" -> JSON.createObjectNode().put("dropped", catalog.dropView(ident(op.path("view"))));
      default -> throw new IllegalArgumentException("unknown op " + name);
    };
  }

  // ------------------------------------------------------------------------------------ tables

  private Table createTable(JsonNode op) {
    Schema schema = SchemaParser.fromJson(op.path("schema").toString());
    PartitionSpec.Builder spec = PartitionSpec.builderFor(schema);
    stringList(op.path("partition_by")).forEach(spec::identity);
    return catalog.buildTable(ident(op.path("table")), schema)
        .withPartitionSpec(spec.build())
        .withProperties(strings(op.path("properties")))
        .create();
  }

  private Table setTableProperties(JsonNode op) {
    Table table = catalog.loadTable(ident(op.path("table")));
    UpdateProperties update = table.updateProperties();
    strings(op.path("set")).forEach(update::set);
    stringList(op.path("remove")).forEach(update::remove);
    update.commit();
    return table;
  }

  /** {@code add: [{"name","type"}]} (a primitive type name such as "double"), {@code rename: {old: new}}. */
  private Table updateSchema(JsonNode op) {
    Table table = catalog.loadTable(ident(op.path("table")));
    UpdateSchema update = table.updateSchema();
    for (JsonNode col : op.path("add")) {
      update.addColumn(col.path("name").asText(), Types.fromPrimitiveString(col.path("type").asText()));
    }
    strings(op.path("rename")).forEach(update::renameColumn);
    update.commit();
    return table;
  }

  /**
   * Appends data files by reference ({@code files: [{"records": n, "size": bytes, "path"?: loc}]}):
   * the client writes the manifest and manifest list through its FileIO and commits the snapshot
   * (assert-ref-snapshot-id + add-snapshot + set-snapshot-ref), as Spark does after its tasks.
   */
  private Table appendFiles(JsonNode op) {
    Table table = catalog.loadTable(ident(op.path("table")));
    AppendFiles append = table.newAppend();
    for (JsonNode file : op.path("files")) {
      String path = file.has("path") ? file.get("path").asText() : table.location() + "/data/" + UUID.randomUUID() + ".parquet";
      append.appendFile(
          DataFiles.builder(table.spec())
              .withPath(path)
              .withFormat(FileFormat.PARQUET)
              .withRecordCount(file.path("records").asLong(1))
              .withFileSizeInBytes(file.path("size").asLong(1024))
              .build());
    }
    append.commit();
    return table;
  }

  /** One POST /transactions/commit setting {@code set} on every table of {@code tables}. */
  private JsonNode multiTableProperties(JsonNode op) {
    List<TableCommit> commits = new ArrayList<>();
    for (JsonNode t : op.path("tables")) {
      TableIdentifier id = ident(t);
      TableMetadata base = ((HasTableOperations) catalog.loadTable(id)).operations().current();
      commits.add(TableCommit.create(id, base, TableMetadata.buildFrom(base).setProperties(strings(op.path("set"))).build()));
    }
    catalog.commitTransaction(commits);
    return JSON.createObjectNode().put("committed", commits.size());
  }

  private static ObjectNode tableJson(Table table) {
    TableMetadata md = ((HasTableOperations) table).operations().current();
    ObjectNode node = JSON.createObjectNode()
        .put("name", table.name())
        .put("uuid", md.uuid())
        .put("format_version", md.formatVersion())
        .put("location", md.location())
        .put("metadata_location", md.metadataFileLocation())
        .put("schema_id", md.currentSchemaId())
        .put("snapshot_count", md.snapshots().size());
    node.set("schema", schemaJson(table.schema()));
    node.set("properties", JSON.valueToTree(md.properties()));
    Snapshot current = md.currentSnapshot();
    if (current != null) {
      node.put("current_snapshot_id", current.snapshotId());
      node.put("manifest_list", current.manifestListLocation());
      node.set("summary", JSON.valueToTree(current.summary()));
    }
    return node;
  }

  // ------------------------------------------------------------------------------------- views

  private View createView(JsonNode op) {
    TableIdentifier id = ident(op.path("view"));
    ViewBuilder builder = catalog.buildView(id)
        .withSchema(SchemaParser.fromJson(op.path("schema").toString()))
        .withQuery(op.path("dialect").asText("spark"), op.path("sql").asText())
        .withDefaultNamespace(id.namespace())
        .withProperties(strings(op.path("properties")));
    return builder.create();
  }

  private View replaceView(JsonNode op) {
    View view = catalog.loadView(ident(op.path("view")));
    view.replaceVersion()
        .withSchema(op.has("schema") ? SchemaParser.fromJson(op.get("schema").toString()) : view.schema())
        .withQuery(op.path("dialect").asText("spark"), op.path("sql").asText())
        .withDefaultNamespace(view.currentVersion().defaultNamespace())
        .commit();
    return catalog.loadView(ident(op.path("view")));
  }

  private static ObjectNode viewJson(View view) {
    ObjectNode node = JSON.createObjectNode()
        .put("name", view.name())
        .put("uuid", String.valueOf(view.uuid()))
        .put("location", view.location())
        .put("version_id", view.currentVersion().versionId());
    ObjectNode sql = JSON.createObjectNode();
    for (ViewRepresentation r : view.currentVersion().representations()) {
      if (r instanceof SQLViewRepresentation s) {
        sql.put(s.dialect(), s.sql());
      }
    }
    node.set("sql", sql);
    node.set("schema", schemaJson(view.schema()));
    node.set("properties", JSON.valueToTree(view.properties()));
    return node;
  }

  // ---------------------------------------------------------------------------------- helpers

  private static JsonNode schemaJson(Schema schema) {
    try {
      return JSON.readTree(SchemaParser.toJson(schema));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static Namespace namespace(JsonNode node) {
    return Namespace.of(stringList(node).toArray(new String[0]));
  }

  private static TableIdentifier ident(JsonNode node) {
    List<String> parts = stringList(node);
    if (parts.isEmpty()) {
      throw new IllegalArgumentException("an identifier is a non-empty array, got " + node);
    }
    return TableIdentifier.of(Namespace.of(parts.subList(0, parts.size() - 1).toArray(new String[0])), parts.get(parts.size() - 1));
  }

  private static ArrayNode levels(Namespace ns) {
    ArrayNode arr = JSON.createArrayNode();
    for (String level : ns.levels()) {
      arr.add(level);
    }
    return arr;
  }

  private static ArrayNode identifiers(List<TableIdentifier> ids) {
    ArrayNode list = JSON.createArrayNode();
    for (TableIdentifier id : ids) {
      list.add(levels(id.namespace()).add(id.name()));
    }
    return list;
  }

  private static List<String> stringList(JsonNode node) {
    List<String> out = new ArrayList<>();
    if (node.isTextual()) {
      out.add(node.asText());
    } else {
      node.forEach(n -> out.add(n.asText()));
    }
    return out;
  }

  private static Map<String, String> strings(JsonNode node) {
    Map<String, String> out = new HashMap<>();
    for (Map.Entry<String, JsonNode> e : node.properties()) {
      out.put(e.getKey(), e.getValue().asText());
    }
    return out;
  }
}
