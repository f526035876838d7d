// Why: iceberg-core has no FileIO for local files without Hadoop (HadoopFileIO needs hadoop-common,
// about 60 MB of jars). The Java client writes manifests and manifest lists into a file://
// warehouse when it appends; this FileIO does that with java.nio and nothing else.
package dev.frazil.javaclient;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.Map;
import org.apache.iceberg.exceptions.AlreadyExistsException;
import org.apache.iceberg.exceptions.NotFoundException;
import org.apache.iceberg.io.FileIO;
import org.apache.iceberg.io.InputFile;
import org.apache.iceberg.io.OutputFile;
import org.apache.iceberg.io.PositionOutputStream;
import org.apache.iceberg.io.SeekableInputStream;

/** A FileIO over local paths ({@code file:/...}, {@code file:///...} or a bare absolute path). */
public class LocalFileIO implements FileIO {
  private static final long serialVersionUID = 1L;

  private Map<String, String> properties = new HashMap<>();

  @Override
  public void initialize(Map<String, String> props) {
    this.properties = new HashMap<>(props);
  }

  @Override
  public Map<String, String> properties() {
    return properties;
  }

  static Path toPath(String location) {
    if (location.startsWith("file:")) {
      return Paths.get(URI.create(location));
    }
    if (location.startsWith("/")) {
      return Paths.get(location);
    }
    throw new IllegalArgumentException("LocalFileIO handles local paths only, not " + location);
  }

  @Override
  public InputFile newInputFile(String location) {
    return new LocalInputFile(location);
  }

  @Override
  public OutputFile newOutputFile(String location) {
    return new LocalOutputFile(location);
  }

  @Override
  public void deleteFile(String location) {
    try {
      Files.deleteIfExists(toPath(location));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static final class LocalInputFile implements InputFile {
    private final String location;

    LocalInputFile(String location) {
      this.location = location;
    }

    @Override
    public long getLength() {
      try {
        return Files.size(toPath(location));
      } catch (NoSuchFileException e) {
        throw new NotFoundException(e, "File does not exist: %s", location);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public SeekableInputStream newStream() {
      try {
        return new LocalSeekableStream(new RandomAccessFile(toPath(location).toFile(), "r"));
      } catch (IOException e) {
        throw new NotFoundException(e, "Cannot open %s", location);
      }
    }

    @Override
    public String location() {
      return location;
    }

    @Override
    public boolean exists() {
      return Files.exists(toPath(location));
    }
  }

  static final class LocalOutputFile implements OutputFile {
    private final String location;

    LocalOutputFile(String location) {
      this.location = location;
    }

    @Override
    public PositionOutputStream create() {
      if (Files.exists(toPath(location))) {
        throw new AlreadyExistsException("File already exists: %s", location);
      }
      return open(false);
    }

    @Override
    public PositionOutputStream createOrOverwrite() {
      return open(true);
    }

    private PositionOutputStream open(boolean overwrite) {
      Path path = toPath(location);
      try {
        Files.createDirectories(path.getParent());
        if (!overwrite) {
          Files.createFile(path);
        }
        RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw");
        file.setLength(0);
        return new LocalPositionStream(file);
      } catch (FileAlreadyExistsException e) {
        throw new AlreadyExistsException(e, "File already exists: %s", location);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public String location() {
      return location;
    }

    @Override
    public InputFile toInputFile() {
      return new LocalInputFile(location);
    }
  }

  static final class LocalSeekableStream extends SeekableInputStream {
    private final RandomAccessFile file;

    LocalSeekableStream(RandomAccessFile file) {
      this.file = file;
    }

    @Override
    public long getPos() throws IOException {
      return file.getFilePointer();
    }

    @Override
    public void seek(long pos) throws IOException {
      file.seek(pos);
    }

    @Override
    public int read() throws IOException {
      return file.read();
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      return file.read(b, off, len);
    }

    @Override
    public void close() throws IOException {
      file.close();
    }
  }

  /** Keeps its position after close: Iceberg asks a closed writer for its length. */
  static final class LocalPositionStream extends PositionOutputStream {
    private final RandomAccessFile file;
    private long pos;

    LocalPositionStream(RandomAccessFile file) {
      this.file = file;
    }

    @Override
    public long getPos() {
      return pos;
    }

    @Override
    public void write(int b) throws IOException {
      file.write(b);
      pos += 1;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      file.write(b, off, len);
      pos += len;
    }

    @Override
    public void close() throws IOException {
      file.close();
    }
  }
}
